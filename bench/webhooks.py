"""Webhooks: deliveries per second to a local receiver, and what the outbox adds to the
create, claim and finish paths (calls and time). `make bench`.

Against a fresh in-memory DynamoDB Local. (a) The three paths timed with and without the
outbox (the claim's SET of the started marker, the finish's event Put), calls counted.
(b) BENCH_HOOKS_N dispatches (default 200) run to COMPLETED with one endpoint subscribed to
started and succeeded, then one Deliverer (OUTPOST_WEBHOOK_THREADS threads) fans out and
delivers all 2N events to a receiver on 127.0.0.1 that answers 200 at once: deliveries per
second, end to end. The per-endpoint caps are raised for (b) (concurrency = threads, 1,000/s):
with the defaults (2 in flight, 10 a second) one endpoint gets at most 10 a second by design.
"""

import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "outpost_admin.settings")
os.environ.setdefault("OUTPOST_AGENT_COMMANDS", '{"claude": ["true"]}')

import django

django.setup()

from django.conf import settings  # noqa: E402

from bench.store import enterprise_tenant, run_against_local_store, tables_and_staff  # noqa: E402
from dispatches import lifecycle, storage  # noqa: E402
from dispatches.domain import AGENTS, DispatchStatus  # noqa: E402
from dispatches.lifecycle import DispatchInput  # noqa: E402
from outpost_admin.audit import Actor  # noqa: E402
from outpost_admin.dynamo import counting_calls, utcnow  # noqa: E402
from webhooks import services  # noqa: E402
from webhooks.delivery import Deliverer  # noqa: E402

N = int(os.environ.get("BENCH_HOOKS_N", "200"))
ROUNDS = int(os.environ.get("BENCH_HOOKS_ROUNDS", "30"))
ACTOR = Actor(name="bench")


class Receiver(BaseHTTPRequestHandler):
    count = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with Receiver.lock:
            Receiver.count += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def create(tenant):
    data = DispatchInput(
        agent="claude",
        task="Benchmark the webhooks outbox",
        model_id=AGENTS["claude"].default_model,
        timeout_seconds=600,
    )
    return lifecycle.dispatch_create(
        tenant_id=tenant.tenant_id,
        api_key_id="",
        limits=tenant.limits,
        data=data,
        body_hash="",
        render=lambda d: {},
        actor=ACTOR,
    )


def timed(action: Callable[[], object]) -> tuple[float, Counter]:
    with counting_calls() as log:
        start = time.perf_counter()
        action()
        elapsed = (time.perf_counter() - start) * 1000
    return elapsed, Counter(log.by_operation())


def paths(tenant) -> None:
    """p50 of claim and finish with the outbox (as built) and without it (storage direct)."""
    rows: dict[str, list[float]] = {}
    calls: dict[str, Counter] = {}
    for _ in range(ROUNDS):
        ms, calls["create"] = timed(lambda: create(tenant))
        rows.setdefault("create (gains nothing)", []).append(ms)
        for outbox in (True, False):
            dispatch = create(tenant)
            label = "with outbox" if outbox else "without"
            holder: dict = {}

            def claim(d=dispatch, o=outbox, h=holder):
                if o:
                    h["d"] = lifecycle.dispatch_claim(d, worker_id="bench")
                else:
                    h["d"] = storage.dispatch_claim(d, worker_id="bench", now=utcnow())

            ms, calls[f"claim {label}"] = timed(claim)
            rows.setdefault(f"claim {label}", []).append(ms)
            claimed = holder["d"]

            def finish(d=claimed, o=outbox):
                if o:
                    lifecycle.dispatch_finish(d, status=DispatchStatus.COMPLETED)
                else:
                    storage.dispatch_finish(d, status=DispatchStatus.COMPLETED, now=utcnow())

            ms, calls[f"finish {label}"] = timed(finish)
            rows.setdefault(f"finish {label}", []).append(ms)
    print(f"\n(a) paths, p50 of {ROUNDS} rounds (ms) and their DynamoDB calls")
    for name, values in rows.items():
        key = name.split(" (")[0]
        shown = dict(calls.get(key, calls.get(name, Counter())))
        print(f"  {name:28} {statistics.median(values):7.1f} ms  {shown}")


def deliveries(tenant) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    services.endpoint_create(
        tenant_id=tenant.tenant_id,
        url=url,
        events=("dispatch.started", "dispatch.succeeded"),
        description="bench",
        actor=ACTOR,
    )
    for _ in range(N):
        claimed = lifecycle.dispatch_claim(create(tenant), worker_id="bench")
        assert claimed
        lifecycle.dispatch_finish(claimed, status=DispatchStatus.COMPLETED)
    threads = settings.OUTPOST_WEBHOOK_THREADS
    settings.OUTPOST_WEBHOOK_ENDPOINT_CONCURRENCY = threads
    settings.OUTPOST_WEBHOOK_ENDPOINT_RATE = 1000
    deliverer = Deliverer(tenant_id=tenant.tenant_id)
    stop = threading.Event()
    loop = threading.Thread(target=deliverer.run, args=(stop,), kwargs={"every": 0.01})
    start = time.perf_counter()
    loop.start()
    while Receiver.count < 2 * N and time.perf_counter() - start < 300:
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    stop.set()
    loop.join()
    server.shutdown()
    print(
        f"\n(b) {Receiver.count} deliveries of {2 * N} events ({N} started + {N} succeeded) "
        f"to one local receiver, {threads} threads: {elapsed:.1f} s, "
        f"{Receiver.count / elapsed:.0f} deliveries/s (fan-out included)"
    )


def main(_process) -> None:
    tables_and_staff()
    settings.OUTPOST_WEBHOOK_ALLOW_PRIVATE = True
    tenant, _ = enterprise_tenant("Bench Hooks")
    print("Webhooks (bench/webhooks.py)")
    paths(tenant)
    tenant_b, _ = enterprise_tenant("Bench Hooks B")
    deliveries(tenant_b)


if __name__ == "__main__":
    run_against_local_store(main, read_timeout=30)
