"""The fleet page and the usage pages at 100 and at 100,000 dispatches: `make bench`.

Against a fresh in-memory DynamoDB Local. Dispatches are written in batches, spread over 30
days, 50 tenants and every agent, and their roll-up cells are written as the stream's roll-up
handler would have added them up (one ADD per roll-up item), so the pages
show the same numbers as after real traffic. Then each page is timed and its DynamoDB calls
counted; the point is that the calls stay the same when the dispatches grow a thousandfold.
Sizes: BENCH_FLEET_SIZES (default "100,100000"); rounds: BENCH_FLEET_ROUNDS (default 20).
"""

import os
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "outpost_admin.settings")
os.environ.setdefault("OUTPOST_AGENT_COMMANDS", '{"claude": ["true"], "codex": ["true"]}')

import django

django.setup()


from bench.store import enterprise_tenant, run_against_local_store, tables_and_staff  # noqa: E402
from dispatches.domain import AGENTS  # noqa: E402
from fleet import services as pool  # noqa: E402
from outpost_admin.dynamo import (  # noqa: E402
    call,
    counting_calls,
    iso,
    to_item,
    utcnow,
)
from outpost_admin.dynamo.tables import DISPATCHES, TENANTS  # noqa: E402
from usage import rollups  # noqa: E402

SIZES = [int(n) for n in os.environ.get("BENCH_FLEET_SIZES", "100,100000").split(",")]
ROUNDS = int(os.environ.get("BENCH_FLEET_ROUNDS", "20"))
DAYS, TENANTS_N = 30, 50
FINISHED = ["COMPLETED"] * 80 + ["FAILED"] * 10 + ["TIMEOUT"] * 5 + ["CANCELLED"] * 3
rng = random.Random(7)


def batch_put(table: str, items: list[dict]) -> None:
    for start in range(0, len(items), 25):
        pending = {table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        while pending:
            pending = call("batch_write_item", RequestItems=pending).get("UnprocessedItems") or {}


class Seeder:
    """Dispatch items and the roll-up cells they would have added, in memory until flushed."""

    def __init__(self, tenants: list[str], keys: dict[str, str]):
        self.tenants, self.keys = tenants, keys
        self.cells: dict[tuple[str, str], Counter[str]] = {}  # (tenant_id, sk) -> cell -> n

    def add(self, n: int, now: datetime) -> None:
        items = [self._dispatch(now) for _ in range(n)]
        batch_put(DISPATCHES.name, items)

    def _dispatch(self, now: datetime) -> dict:
        tenant = rng.choice(self.tenants)
        agent = rng.choice(list(AGENTS))
        pending = rng.random() < 0.02
        created = now - (
            timedelta(minutes=rng.randint(0, 600))
            if pending
            else timedelta(seconds=rng.randint(0, DAYS * 86400 - 1))
        )
        status = "PENDING" if pending else rng.choice(FINISHED)
        key = self.keys[tenant]
        self._count(tenant, created, agent, key, status, run=rng.uniform(1, 900))
        return to_item(
            {
                "dispatch_id": f"B{uuid.uuid4().hex}",
                "user_id": tenant,
                "agent": agent,
                "model_id": AGENTS[agent].default_model,
                "task": "benchmark task " * 4,
                "status": status,
                "started_at": iso(created),
                "started_day": iso(created)[:10],
                "version": 2,
                "timeout_seconds": 600,
                "api_key_id": key,
                "origin": "outpost-admin",
                "expires_at": int(time.time()) + 86400,
            }
        )

    def _count(
        self, tenant: str, created: datetime, agent: str, key: str, status: str, run: float
    ) -> None:
        own = self.cells.setdefault((tenant, f"USAGE#{created.date().isoformat()}"), Counter())
        shard_id = rollups.tenant_shard_key(tenant, created.date())["tenant_id"]["S"]
        shard = self.cells.setdefault((shard_id, "DAY"), Counter())
        own.update({"dispatches": 1, f"agent_{agent}": 1, rollups.created_cell(agent, key): 1})
        shard.update([rollups.created_cell(agent, ""), rollups.tenant_cell(tenant)])
        if status == "PENDING":
            queue_id = rollups.tenant_queue_key(tenant)["tenant_id"]["S"]
            queue = self.cells.setdefault((queue_id, "QUEUE"), Counter())
            queue[rollups.waiting_cell(agent, created)] += 1
            return
        finished = rollups.finish_cells(
            status=status, agent=agent, key_id=key, run_seconds=run, with_key=True
        )
        own.update([f"status_{status.lower()}", *finished])
        shard.update(
            rollups.finish_cells(
                status=status, agent=agent, key_id="", run_seconds=run, with_key=False
            )
        )

    def flush(self) -> None:
        for (tenant_id, sk), cells in self.cells.items():
            key = to_item({"tenant_id": tenant_id, "sk": sk})
            names = list(cells)
            for start in range(0, len(names), 100):  # an update expression holds 4 KB
                chunk = {name: cells[name] for name in names[start : start + 100]}
                call("update_item", **rollups.add_action(TENANTS.name, key, chunk)["Update"])
        self.cells.clear()


def measure(name: str, fn: Callable[[], object]) -> tuple[float, float, int]:
    fn()
    timings, calls = [], 0
    for _ in range(ROUNDS):
        with counting_calls() as log:
            started = time.perf_counter()
            response = fn()
            timings.append((time.perf_counter() - started) * 1000)
        assert getattr(response, "status_code", 200) == 200, (name, response)
        calls = log.count
    timings.sort()
    return statistics.median(timings), timings[max(0, int(len(timings) * 0.95) - 1)], calls


def main() -> None:
    run_against_local_store(lambda _: run(), read_timeout=60)


def run() -> None:
    browser = tables_and_staff()
    made = [enterprise_tenant(f"Fleet Bench {i:02d}") for i in range(TENANTS_N)]
    tenants = [t.tenant_id for t, _ in made]
    seeder = Seeder(tenants, {t.tenant_id: k.key.api_key_id for t, k in made})
    for n in range(3):
        pool.slots_register(worker_id=f"bench-worker-{n}", count=4, agents=tuple(AGENTS))
    pages: list[tuple[str, Callable[[], object]]] = [
        ("GET /fleet/ (htmx refresh)", lambda: browser.get("/fleet/", HTTP_HX_REQUEST="true")),
        ("GET /usage/?range=30 (every tenant)", lambda: browser.get("/usage/?range=30")),
        ("GET /usage/?range=90 (every tenant)", lambda: browser.get("/usage/?range=90")),
        (
            "GET /usage/?tenant=…&range=30",
            lambda: browser.get(f"/usage/?tenant={tenants[0]}&range=30"),
        ),
        ("GET /usage/export.csv?range=30", lambda: browser.get("/usage/export.csv?range=30")),
        ("GET /api/v1/admin/usage?days=30", lambda: browser.get("/api/v1/admin/usage?days=30")),
    ]
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name, _ in pages}
    seeded = 0
    for size in SIZES:
        started = time.perf_counter()
        seeder.add(size - seeded, utcnow())
        seeder.flush()
        seeded = size
        print(f"seeded {size} dispatches in {time.perf_counter() - started:.1f} s", flush=True)
        for name, fn in pages:
            results[name].append(measure(name, fn))
    header = "".join(f"{f'{n:,} dispatches':>34}" for n in SIZES)
    print(
        f"\n{'page':<40}{header}\n{'':<40}"
        + "".join(f"{'p50 ms   p95 ms   calls':>34}" for _ in SIZES)
    )
    for name, rows in results.items():
        cells = "".join(f"{p50:>16.1f} {p95:>8.1f} {calls:>7}" for p50, p95, calls in rows)
        same = "same calls" if len({r[2] for r in rows}) == 1 else "CALLS DIFFER"
        print(f"{name:<40}{cells}   {same}")


if __name__ == "__main__":
    main()
