"""`make bench`'s ratio tables: our API through gunicorn (as `make run` starts it) against what
it can't be faster than, in the same run and at the same number of concurrent connections.

- warm GET /api/v1/dispatches/<id> vs a bare DRF view returning the same JSON (bench/urls.py),
  and vs a bare DRF view making the same DynamoDB calls first; those calls are timed on their
  own too (raw boto3 in this process);
- POST /api/v1/dispatches vs a raw boto3 loop sending the same TransactWriteItems.

Each gunicorn configuration in BENCH_GUNICORN_CONFIGS ("class:workers:threads", or "" for
gunicorn.conf.py as `make run` uses it) gets its own table, so the choice is made on figures.
"""

import asyncio
import copy
import json
import os
import re
import runpy
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.test import Client

from bench.store import enterprise_tenant
from fleet.management.commands.run_local import gunicorn_command
from outpost_admin.dynamo import client, local

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
WARMUP_SECONDS = 1.0
WARM_STORE_SECONDS = float(os.environ.get("BENCH_WARM_STORE_SECONDS", "15"))
CONNECTIONS = [int(c) for c in os.environ.get("BENCH_CONNECTIONS", "1,8").split(",")]
# "worker class:workers:threads" to compare; "" is gunicorn.conf.py as make run uses it.
GUNICORN_CONFIGS = os.environ.get("BENCH_GUNICORN_CONFIGS", ",gthread:4:4,sync:2:1").split(",")
TENANTS_PER_RUN = int(os.environ.get("BENCH_CREATE_TENANTS", "60"))
# Consecutive creates per key (an enterprise tenant runs 50 at once): a client sends many with
# one key, so the key is verified once per process and then served from the key cache.
CREATES_PER_KEY = 40
BODY = {"agent": "claude", "task": "Benchmark the dispatch path", "timeoutSeconds": 60}


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else 0.0


# --- a small keep-alive HTTP load generator -------------------------------------------------------


async def _read_answer(reader: asyncio.StreamReader) -> tuple[str, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    await reader.readexactly(int(headers.get("content-length", "0")))
    return lines[0].split(" ")[1], headers.get("connection", "").lower() == "close"


async def _connection(port: int, request: Callable[[], bytes], until: float, out: Result) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.perf_counter() < until:
        started = time.perf_counter()
        writer.write(request())
        status, closed = await _read_answer(reader)
        out.latencies.append(time.perf_counter() - started)
        out.statuses[status] += 1
        if closed:
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()


def load(port: int, request: Callable[[], bytes], connections: int, seconds: float) -> Result:
    out = Result()

    async def run() -> None:
        until = time.perf_counter() + seconds
        await asyncio.gather(*(_connection(port, request, until, out) for _ in range(connections)))

    started = time.perf_counter()
    asyncio.run(run())
    out.seconds = time.perf_counter() - started
    return out


def http_get(path: str, key: str | None = None) -> Callable[[], bytes]:
    auth = f"X-API-Key: {key}\r\n" if key else ""
    raw = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode()
    return lambda: raw


def http_create(keys: list[str]) -> Callable[[], bytes]:
    body = json.dumps(BODY).encode()
    requests = [
        f"POST /api/v1/dispatches HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
        for key in keys
    ]
    turn = iter(range(10**9))
    return lambda: requests[next(turn) // CREATES_PER_KEY % len(requests)]


# --- in-process loops of raw boto3 calls ------------------------------------------------------------


def threads(call: Callable[[int], Any], connections: int, seconds: float) -> Result:
    out = Result()
    lock = threading.Lock()
    until = time.perf_counter() + seconds
    turn = iter(range(10**9))

    def loop() -> None:
        while time.perf_counter() < until:
            with lock:
                n = next(turn)
            started = time.perf_counter()
            try:
                call(n)
                status = "ok"
            except Exception as exc:
                status = type(exc).__name__
            with lock:
                out.latencies.append(time.perf_counter() - started)
                out.statuses[status] += 1

    workers = [threading.Thread(target=loop) for _ in range(connections)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.seconds = time.perf_counter() - started
    return out


def captured_creates(keys: list[str]) -> list[dict[str, Any]]:
    """Create one dispatch per key in-process and keep the TransactWriteItems each one sent,
    with the strings that must differ on every replay (dispatch id, idempotency key)."""
    sent: list[dict[str, Any]] = []

    def keep(params: dict[str, Any], **_: Any) -> None:
        sent.append(copy.deepcopy(params))

    events = client().meta.events
    events.register("before-parameter-build.dynamodb.TransactWriteItems", keep)
    templates = []
    try:
        for key in keys:
            response = Client(HTTP_X_API_KEY=key).post(
                "/api/v1/dispatches", BODY, content_type="application/json"
            )
            assert response.status_code == 201, response.content
            fresh = [response.json()["data"]["dispatchId"], response["Idempotency-Key"]]
            fresh += audit_keys(sent[-1])
            templates.append({"params": json.dumps(sent[-1]), "fresh": fresh})
    finally:
        events.unregister("before-parameter-build.dynamodb.TransactWriteItems", keep)
    return templates


def audit_keys(params: dict[str, Any]) -> list[str]:
    """Audit records' sort keys (a timestamp with a random suffix): new on every replay."""
    puts = (action["Put"]["Item"] for action in params["TransactItems"] if "Put" in action)
    return [item["timestamp"]["S"] for item in puts if "timestamp" in item]


def replay(template: dict[str, Any]) -> dict[str, Any]:
    text = template["params"]
    for old in template["fresh"]:
        text = text.replace(old, old[:-8] + uuid.uuid4().hex[:8])
    params: dict[str, Any] = json.loads(text)
    params["ClientRequestToken"] = str(uuid.uuid4())
    return params


def method_name(operation: str) -> str:
    """The client's method for an operation: GetItem -> get_item."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def model_name(operation: str) -> str:
    return "".join(part.title() for part in operation.split("_"))


def calls_replayer(calls: list[tuple[str, dict[str, Any]]]) -> Callable[[int], None]:
    """The calls one request made, sent again with raw boto3."""

    def its_calls(_: int) -> None:
        for operation, params in calls:
            getattr(client(), operation)(**params)

    return its_calls


def replayer(templates: list[dict[str, Any]]) -> Callable[[int], Any]:
    return lambda n: client().transact_write_items(**replay(templates[n % len(templates)]))


# --- gunicorn as make run starts it ------------------------------------------------------------------


def start_gunicorn(config: str, files: dict[str, Path]) -> tuple[subprocess.Popen[bytes], int]:
    port = local.free_port()
    command = gunicorn_command(port)
    if config:
        worker_class, workers, threads_n = config.split(":")
        command += ["--worker-class", worker_class, "--workers", workers, "--threads", threads_n]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DYNAMODB_ENDPOINT_URL": settings.DYNAMODB_ENDPOINT_URL or "",
        **{name: str(path) for name, path in files.items()},
    }
    process = subprocess.Popen(command, env=env, cwd=settings.BASE_DIR, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=1)
            return process, port
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def describe(config: str) -> str:
    if config:
        worker_class, workers, threads_n = config.split(":")
    else:
        conf = runpy.run_path(str(Path(settings.BASE_DIR) / "gunicorn.conf.py"))
        worker_class, workers, threads_n = conf["worker_class"], conf["workers"], conf["threads"]
    return f"{worker_class}, {workers} workers x {threads_n} threads"


# --- the tables --------------------------------------------------------------------------------------


def fresh_keys(n: int) -> list[str]:
    """New enterprise tenants, one key each: every run of creates starts with free slots."""
    keys = []
    for _ in range(n):
        _, issued = enterprise_tenant(f"Ratio {uuid.uuid4().hex[:8]}")
        keys.append(issued.raw)
    return keys


def row(name: str, connections: int, result: Result, ratio: str = "") -> None:
    other = {k: v for k, v in result.statuses.items() if k not in ("200", "201", "ok")}
    note = f"  other answers: {dict(other)}" if other else ""
    print(
        f"{name:<46} {connections:>5} {result.rate:>9.0f} {result.percentile(0.5):>8.1f} "
        f"{result.percentile(0.95):>8.1f}  {ratio}{note}"
    )


def ratio(ours: Result, baseline: Result, goal: float) -> str:
    value = ours.rate / baseline.rate if baseline.rate else 0.0
    return f"{value:.2f}x (goal >= {goal}x){'' if value >= goal else '  BELOW GOAL'}"


def captured_calls(request: Callable[[], Any]) -> list[tuple[str, dict[str, Any]]]:
    """The DynamoDB calls (operation, parameters) that one request makes."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def keep(params: dict[str, Any], model: Any, **_: Any) -> None:
        sent.append((method_name(model.name), copy.deepcopy(params)))

    events = client().meta.events
    events.register("before-parameter-build.dynamodb", keep)
    try:
        request()
    finally:
        events.unregister("before-parameter-build.dynamodb", keep)
    return sent


def run_ratios(dispatch_id: str, key: str) -> None:
    api = Client(HTTP_X_API_KEY=key)
    answer = api.get(f"/api/v1/dispatches/{dispatch_id}")  # warms the key cache
    assert answer.status_code == 200, answer.content
    calls = captured_calls(lambda: api.get(f"/api/v1/dispatches/{dispatch_id}"))
    with tempfile.TemporaryDirectory() as folder:
        bare = {"BENCH_BARE_JSON": answer.json(), "BENCH_BARE_CALLS": calls}
        files = {name: Path(folder) / f"{name}.json" for name in bare}
        for name, path in files.items():
            path.write_text(json.dumps(bare[name]))
        warm_the_store(calls)
        for config in GUNICORN_CONFIGS:
            _ratios_for(config, files, dispatch_id, key, calls)


def warm_the_store(calls: list[tuple[str, dict[str, Any]]]) -> None:
    """DynamoDB Local runs on a JVM that compiles its hot paths as they warm up: without this,
    whichever configuration is measured first is measured against a slower store."""
    threads(calls_replayer(calls), max(CONNECTIONS), WARM_STORE_SECONDS)
    creates = replayer(captured_creates(fresh_keys(2)))
    threads(creates, max(CONNECTIONS), WARM_STORE_SECONDS)


def _ratios_for(
    config: str,
    files: dict[str, Path],
    dispatch_id: str,
    key: str,
    calls: list[tuple[str, dict[str, Any]]],
) -> None:
    process, port = start_gunicorn(config, files)
    try:
        print(f"\nThrough gunicorn ({describe(config)}), {SECONDS:.0f} s per row")
        print(f"{'':<46} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8}  ratio")
        names = " + ".join(model_name(operation) for operation, _ in calls)

        for connections in CONNECTIONS:
            ours_get = http_get(f"/api/v1/dispatches/{dispatch_id}", key)
            load(port, ours_get, connections, WARMUP_SECONDS)
            ours = load(port, ours_get, connections, SECONDS)
            bare = load(port, http_get("/bench/bare"), connections, SECONDS)
            bare_calls = load(port, http_get("/bench/bare-calls"), connections, SECONDS)
            alone = threads(calls_replayer(calls), connections, SECONDS)
            row("GET /api/v1/dispatches/<id> (warm key cache)", connections, ours)
            row(
                "  bare DRF view, same JSON, no DynamoDB", connections, bare, ratio(ours, bare, 0.8)
            )
            row(
                f"  bare DRF view, same JSON, after its {names}",
                connections,
                bare_calls,
                ratio(ours, bare_calls, 0.8),
            )
            row(f"  its {names} alone (raw boto3)", connections, alone)
            created = load(port, http_create(fresh_keys(TENANTS_PER_RUN)), connections, SECONDS)
            raw = threads(
                replayer(captured_creates(fresh_keys(TENANTS_PER_RUN))), connections, SECONDS
            )
            row("POST /api/v1/dispatches", connections, created)
            row("  raw boto3 TransactWriteItems loop", connections, raw, ratio(created, raw, 0.6))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
