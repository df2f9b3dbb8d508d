"""`make bench`'s outage timings: gunicorn as `make run` starts it, against a DynamoDB Local
that is paused (SIGSTOP) and then resumed (SIGCONT). Prints, for each route, the status and
the seconds to the answer: the first requests (they wait out one call's time budget), the
requests once the circuit breaker is open, and how soon the server is ready again.
"""

import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "outpost_admin.settings")
os.environ.setdefault("OUTPOST_AGENT_COMMANDS", '{"claude": ["true"]}')

import django

django.setup()

from django.conf import settings  # noqa: E402

from bench.ratios import describe  # noqa: E402
from bench.store import enterprise_tenant, run_against_local_store, tables_and_staff  # noqa: E402
from fleet.management.commands.run_local import gunicorn_command  # noqa: E402
from outpost_admin.dynamo import local  # noqa: E402

BODY = b'{"agent": "claude", "task": "Measure the outage answer"}'


def request(port: int, path: str, headers: dict[str, str], body: bytes | None = None):
    """(status, seconds) of one request; the server's own answer, whatever its status."""
    url = f"http://127.0.0.1:{port}{path}"
    sent = urllib.request.Request(url, data=body, headers=headers)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(sent, timeout=30) as answer:
            answer.read()
            status = answer.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status, time.perf_counter() - started


def start_server() -> tuple[subprocess.Popen[bytes], int]:
    port = local.free_port()
    env = {**os.environ, "DYNAMODB_ENDPOINT_URL": settings.DYNAMODB_ENDPOINT_URL or ""}
    server = subprocess.Popen(gunicorn_command(port), env=env, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            if request(port, "/health/live", {})[0] == 200:
                return server, port
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("gunicorn did not start")


def routes(key: str, session: str) -> list[tuple[str, str, dict[str, str], bytes | None]]:
    api = {"X-API-Key": key, "Content-Type": "application/json"}
    return [
        ("page GET /tenants/ (staff)", "/tenants/", {"Cookie": f"sessionid={session}"}, None),
        ("GET /api/v1/dispatches", "/api/v1/dispatches", api, None),
        ("POST /api/v1/dispatches", "/api/v1/dispatches", api, BODY),
        ("GET /health/ready", "/health/ready", {}, None),
        ("GET /health/live", "/health/live", {}, None),
    ]


def run(store: subprocess.Popen[bytes]) -> None:
    browser = tables_and_staff()
    _, issued = enterprise_tenant("Outage Co")
    table = routes(issued.raw, browser.cookies["sessionid"].value)
    server, port = start_server()
    try:
        for _ in range(4):  # every process has the key cached and its client built
            for _, path, headers, _ in table:
                request(port, path, headers)  # GETs only: no dispatch is created yet
        measure(store, port, table)
    finally:
        store.send_signal(signal.SIGCONT)
        server.terminate()
        server.wait(timeout=30)


def measure(store: subprocess.Popen[bytes], port: int, table: list) -> None:
    """Per route: pause the store, time the first answer and ten more, resume, wait until
    ready (so the next route starts with every breaker closed again)."""
    print(f"\nOutage through gunicorn ({describe('')}, as make run starts it)")
    print(f"{'while paused (SIGSTOP)':<30} {'first answer':>14}   {'the next 10 (p50, max)':>26}")
    for name, path, headers, body in table:
        store.send_signal(signal.SIGSTOP)
        status, seconds = request(port, path, headers, body)
        later = [request(port, path, headers, body) for _ in range(10)]
        statuses = "/".join(str(s) for s in sorted({s for s, _ in later}))
        times = [t for _, t in later]
        print(
            f"{name:<30} {status} in {seconds:5.2f} s   {statuses} in "
            f"{statistics.median(times):5.3f} s, {max(times):5.2f} s"
        )
        store.send_signal(signal.SIGCONT)
        resumed = time.perf_counter()
        while request(port, "/health/ready", {})[0] != 200:
            time.sleep(0.05)
        print(f"{'':<30} resumed: ready again after {time.perf_counter() - resumed:.2f} s")
    store.send_signal(signal.SIGCONT)


if __name__ == "__main__":
    run_against_local_store(run, read_timeout=15)
