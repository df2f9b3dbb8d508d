"""Benchmarks against a fresh in-memory DynamoDB Local: `make bench`.

Seeds BENCH_TENANTS tenants and BENCH_DISPATCHES dispatches for one tenant (batch writes),
then times the request paths that must stay fast at that size, and counts their DynamoDB calls.
"""

import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "outpost_admin.settings")
os.environ.setdefault("OUTPOST_AGENT_COMMANDS", '{"claude": ["true"]}')

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from outpost_admin.audit import Actor  # noqa: E402
from outpost_admin.dynamo import call, counting_calls, iso, local, reset_client, to_item, utcnow  # noqa: E402
from outpost_admin.dynamo.tables import DISPATCHES, TENANTS, create_tables  # noqa: E402
from tenants import services  # noqa: E402
from tenants.domain import Tier  # noqa: E402

TENANTS_N = int(os.environ.get("BENCH_TENANTS", "20000"))
DISPATCHES_N = int(os.environ.get("BENCH_DISPATCHES", "20000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "50"))


def batch_put(table: str, items: list[dict]) -> None:
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        pending = {table: requests}
        while pending:
            pending = call("batch_write_item", RequestItems=pending).get("UnprocessedItems") or {}


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


def seed_dispatches(tenant_id: str, n: int) -> None:
    base = time.time() - n
    items = []
    for i in range(n):
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
    setup_test_environment()
    settings.ALLOWED_HOSTS = ["*"]
    port = local.free_port()
    process = local.start(port=port)
    settings.DYNAMODB_ENDPOINT_URL = f"http://127.0.0.1:{port}"
    reset_client()
    try:
        run()
    finally:
        process.terminate()


def run() -> None:
    create_tables(log=lambda _: None)
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    seed_tenants(TENANTS_N)
    tenant, issued = services.tenant_provision(
        name="Bench Co",
        email=f"{uuid.uuid4().hex}@example.com",
        tier=Tier.ENTERPRISE,
        actor=Actor(name="bench"),
    )
    seed_dispatches(tenant.tenant_id, DISPATCHES_N)
    print(
        f"seeded {TENANTS_N} tenants and {DISPATCHES_N} dispatches in {time.perf_counter() - started:.1f} s\n"
    )

    staff = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True}
    )[0]
    browser = Client()
    browser.force_login(staff)
    api = Client(HTTP_X_API_KEY=issued.raw)
    body = {"agent": "claude", "task": "Benchmark the dispatch path", "timeoutSeconds": 60}

    measure("GET /api/v1/me (warm key cache)", lambda: api.get("/api/v1/me"))
    measure("GET /api/v1/dispatches?limit=25", lambda: api.get("/api/v1/dispatches?limit=25"))
    measure(
        "GET /api/v1/dispatches?status=failed", lambda: api.get("/api/v1/dispatches?status=failed")
    )
    measure(
        "POST /api/v1/dispatches (create)",
        lambda: api.post("/api/v1/dispatches", body, content_type="application/json"),
    )
    measure("GET /tenants/ (first page of 50)", lambda: browser.get("/tenants/"))
    measure(
        "GET /tenants/?search=bench tenant 0123",
        lambda: browser.get("/tenants/?search=bench+tenant+0123"),
    )
    measure("GET /tenants/?status=suspended", lambda: browser.get("/tenants/?status=suspended"))
    measure("GET /tenants/{id}/", lambda: browser.get(f"/tenants/{tenant.tenant_id}/"))
    measure("GET /audit/ (today)", lambda: browser.get("/audit/"))


if __name__ == "__main__":
    main()
