"""Past one machine, measured: `make bench` runs this after the others.

(d) Failed claims per dispatch: W claimers (threads, each claiming as a worker does: the
claim queue's shards from a random one, oldest first, on to the next shard when a claim
fails) drain a backlog of pending dispatches spread over enough enterprise tenants to hold
them. Reported per W: dispatches claimed, failed claim transactions, failures per dispatch,
and that none was claimed twice.

BENCH_CLAIM_WORKERS (default "1,10,50") and BENCH_CLAIM_BACKLOG (default 2000) set the runs.
"""

import os
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "outpost_admin.settings")
os.environ.setdefault("OUTPOST_AGENT_COMMANDS", '{"claude": ["true"]}')

import django

django.setup()

from bench.store import enterprise_tenant, run_against_local_store, tables_and_staff  # noqa: E402
from dispatches import claim_queue, services, storage  # noqa: E402
from dispatches.domain import AGENTS  # noqa: E402
from outpost_admin.audit import Actor  # noqa: E402
from outpost_admin.dynamo import utcnow  # noqa: E402

PER_TENANT = 50  # an enterprise tenant's concurrent dispatches, PENDING ones included


def seed(backlog: int) -> list[str]:
    """`backlog` pending dispatches, created as the API creates them."""
    ids: list[str] = []
    while len(ids) < backlog:
        tenant, _ = enterprise_tenant(f"claim-{uuid.uuid4().hex[:6]}")
        for _ in range(min(PER_TENANT, backlog - len(ids))):
            data = services.DispatchInput(
                agent="claude",
                task="Fix the failing test in utils.py",
                model_id=AGENTS["claude"].default_model,
                timeout_seconds=600,
            )
            dispatch = services.dispatch_create(
                tenant_id=tenant.tenant_id,
                api_key_id="",
                limits=tenant.limits,
                data=data,
                body_hash="",
                render=lambda d: {},
                actor=Actor(name="bench"),
            )
            ids.append(dispatch.dispatch_id)
    return ids


def drain(workers: int) -> tuple[Counter[str], int]:
    """Claim until the queue is empty; returns the wins per dispatch and the failed claims."""
    won: Counter[str] = Counter()
    failed = 0
    lock = threading.Lock()

    def claimer(number: int) -> None:
        nonlocal failed
        worker_id = f"bench-{number}"
        while True:
            found = False
            for shard in claim_queue.shard_order():
                for candidate in claim_queue.claim_candidates(shard, wanted=1):
                    found = True
                    got = storage.dispatch_claim(candidate, worker_id=worker_id, now=utcnow())
                    with lock:
                        if got is None:
                            failed += 1
                        else:
                            won[candidate.dispatch_id] += 1
                    if got is None:
                        break
            if not found:
                return

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won, failed


def claims(_: object) -> None:
    tables_and_staff()
    backlog = int(os.environ.get("BENCH_CLAIM_BACKLOG", "2000"))
    print(f"(d) failed claims per dispatch, a backlog of {backlog} dispatches")
    print("| claimers | claimed | claimed twice | failed claims | per dispatch | seconds |")
    print("|---|---|---|---|---|---|")
    for workers in (int(w) for w in os.environ.get("BENCH_CLAIM_WORKERS", "1,10,50").split(",")):
        ids = seed(backlog)
        started = time.monotonic()
        won, failed = drain(workers)
        seconds = time.monotonic() - started
        twice = sum(1 for n in won.values() if n > 1)
        mine = sum(1 for i in ids if won[i])
        print(
            f"| {workers} | {mine} | {twice} | {failed} | {failed / max(mine, 1):.3f} "
            f"| {seconds:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    run_against_local_store(claims, read_timeout=30)
