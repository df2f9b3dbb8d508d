"""Benchmarks against a fresh in-memory DynamoDB Local: `make bench`.

For each size in BENCH_SIZES (default 100 and 100,000) seeds that many tenants and dispatches
of one tenant (batch writes), then times the request paths that must stay fast at that size
in-process (p50/p95) and counts their DynamoDB calls. Then the ratio tables (bench/ratios.py):
the API through gunicorn against a bare view and raw boto3, at 1 and 8 connections.
"""

import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "outpost_admin.settings")
os.environ.setdefault("OUTPOST_AGENT_COMMANDS", '{"claude": ["true"]}')

import django

django.setup()

from django.test import Client  # noqa: E402

from bench.ratios import run_ratios  # noqa: E402
from bench.store import enterprise_tenant, run_against_local_store, tables_and_staff  # noqa: E402
from outpost_admin.dynamo import call, counting_calls, iso, to_item, utcnow  # noqa: E402
from outpost_admin.dynamo.tables import DISPATCHES, TENANTS  # noqa: E402

# The p50/p95 tables: one per size, tenants and dispatches alike (seeded cumulatively).
SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "100,100000").split(",")]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "50"))


def batch_put(table: str, items: list[dict]) -> None:
    def put(start: int) -> None:
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        pending = {table: requests}
        while pending:
            pending = call("batch_write_item", RequestItems=pending).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, range(0, len(items), 25)))


def seed_tenants(n: int) -> None:
    now = iso(utcnow())
    items = []
    for i in range(n):
        tid = str(uuid.uuid4())
        name = f"Bench Tenant {i:06d}"
        items.append(
            to_item(
                {
                    "tenant_id": tid,
                    "sk": "TENANT",
                    "tenantId": tid,
                    "name": name,
                    "nameLower": name.lower(),
                    "email": f"bench{i}@example.com",
                    "tier": "pro",
                    "status": "active" if i % 10 else "suspended",
                    "createdAt": now,
                    "updatedAt": now,
                    "usageLimits": {
                        "maxConcurrentJobs": 10,
                        "maxJobsPerDay": 500,
                        "maxJobTimeoutSeconds": 1800,
                    },
                    "currentUsage": {
                        "concurrentJobs": 0,
                        "jobsToday": 0,
                        "lastResetDate": now[:10],
                    },
                }
            )
        )
    batch_put(TENANTS.name, items)


def seed_dispatches(tenant_id: str, n: int, first: int = 0) -> None:
    base = time.time() - 10**6
    items = []
    for i in range(first, first + n):
        started = iso(utcnow().fromtimestamp(base + i, tz=utcnow().tzinfo))
        items.append(
            to_item(
                {
                    "dispatch_id": f"B{i:025d}",
                    "user_id": tenant_id,
                    "agent": "claude" if i % 3 else "codex",
                    "model_id": "claude-opus-4-5-20251101",
                    "task": "benchmark task " * 4,
                    "status": "COMPLETED" if i % 5 else "FAILED",
                    "started_at": started,
                    "started_day": started[:10],
                    "version": 2,
                    "timeout_seconds": 600,
                    "expires_at": int(time.time()) + 86400,
                }
            )
        )
    batch_put(DISPATCHES.name, items)


def measure(name: str, fn: Callable[[], object], rounds: int = ROUNDS) -> None:
    fn()
    timings, calls = [], 0
    for _ in range(rounds):
        with counting_calls() as log:
            started = time.perf_counter()
            fn()
            timings.append((time.perf_counter() - started) * 1000)
        calls = log.count
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"{name:<48} p50 {statistics.median(timings):7.1f} ms   p95 {p95:7.1f} ms   {calls} DynamoDB call(s)"
    )


def main() -> None:
    run_against_local_store(lambda _: run(), read_timeout=15)


def run() -> None:
    browser = tables_and_staff()
    tenant, issued = enterprise_tenant("Bench Co")
    seeded = 0
    for size in SIZES:
        started = time.perf_counter()
        seed_tenants(size - seeded)
        seed_dispatches(tenant.tenant_id, size - seeded, first=seeded)
        seeded = size
        print(
            f"\n{size} tenants and {size} dispatches (seeded in {time.perf_counter() - started:.1f} s)"
        )
        tables(tenant.tenant_id, issued.raw, browser)
    body = {"agent": "claude", "task": "The dispatch the ratio tables read"}
    created = Client(HTTP_X_API_KEY=issued.raw).post(
        "/api/v1/dispatches", body, content_type="application/json"
    )
    run_ratios(created.json()["data"]["dispatchId"], issued.raw)


def tables(tenant_id: str, key: str, browser: Client) -> None:
    api = Client(HTTP_X_API_KEY=key)
    body = {"agent": "claude", "task": "Benchmark the dispatch path", "timeoutSeconds": 60}
    measure("GET /api/v1/me (warm key cache)", lambda: api.get("/api/v1/me"))
    measure("GET /api/v1/dispatches?limit=25", lambda: api.get("/api/v1/dispatches?limit=25"))
    measure(
        "GET /api/v1/dispatches?status=failed", lambda: api.get("/api/v1/dispatches?status=failed")
    )
    # Enterprise allows 50 at once: few enough rounds that every create is a 201.
    measure(
        "POST /api/v1/dispatches (create)",
        lambda: api.post("/api/v1/dispatches", body, content_type="application/json"),
        rounds=min(ROUNDS, 20),
    )
    measure("GET /tenants/ (first page of 50)", lambda: browser.get("/tenants/"))
    measure(
        "GET /tenants/?search=bench tenant 0123",
        lambda: browser.get("/tenants/?search=bench+tenant+0123"),
    )
    measure("GET /tenants/?status=suspended", lambda: browser.get("/tenants/?status=suspended"))
    measure("GET /tenants/{id}/", lambda: browser.get(f"/tenants/{tenant_id}/"))
    measure("GET /audit/ (today)", lambda: browser.get("/audit/"))


if __name__ == "__main__":
    main()
