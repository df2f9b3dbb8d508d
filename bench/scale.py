"""Past one machine, measured: `make bench` runs this after the others.

(a) Hot keys: every partition key written inside the create, claim and finish writes of
N dispatches over M tenants (BENCH_SCALE_DISPATCHES, BENCH_SCALE_TENANTS; default 600 over
60), base tables and index partitions alike (each written item's GSI keys; an update
counts for an index only if it names one of its keys or projected attributes, as DynamoDB
rewrites an entry only then), with the hottest key's share of all writes.

(b) Largest items: the largest item written on each path, after a day with 10,000 tenants'
worth of dispatches (BENCH_SCALE_DAY_TENANTS; 3 each, over 5 agents and 3 keys a tenant):
the quota items a create writes, and the roll-up items the stream writes (built as the
stream handler builds them, the top items as `usage.top_tenants` keeps them, then sized by
DynamoDB's rules; no store needed), and a key's month item at its largest.

(c) The stream handler's sustained records per second, and the follower's lag before and
after, on DynamoDB Local: the records of (a) followed to the end.

(d) Failed claims per dispatch: W claimers (threads, each claiming as a worker does: the
claim queue's shards from a random one, oldest first, on to the next shard when a claim
fails) drain a backlog of pending dispatches spread over enough enterprise tenants to hold
them. Reported per W: dispatches claimed, failed claim transactions, failures per dispatch,
and that none was claimed twice.

BENCH_CLAIM_WORKERS (default "1,10,50") and BENCH_CLAIM_BACKLOG (default 2000) set the runs.
"""

import os
import re
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

import json  # noqa: E402
from collections import defaultdict  # noqa: E402
from datetime import timedelta  # noqa: E402

from bench.store import enterprise_tenant, run_against_local_store, tables_and_staff  # noqa: E402
from dispatches import claim_queue, storage  # noqa: E402
from dispatches import lifecycle as services  # noqa: E402
from dispatches.domain import AGENTS, ORIGIN, Dispatch, DispatchStatus  # noqa: E402
from fleet import recovery as reconcile  # noqa: E402
from outpost_admin.audit import Actor  # noqa: E402
from outpost_admin.dynamo import call, client, leases, to_item, utcnow  # noqa: E402
from outpost_admin.dynamo.sizes import item_size  # noqa: E402
from outpost_admin.dynamo.tables import ALL_TABLES  # noqa: E402
from tenants import counters  # noqa: E402
from usage import backfill, rollups, rollups_stream  # noqa: E402

PER_TENANT = 50  # an enterprise tenant's concurrent dispatches, PENDING ones included


def seed(backlog: int) -> list[str]:
    """`backlog` pending dispatches, created as the API creates them."""
    ids: list[str] = []
    while len(ids) < backlog:
        tenant, _ = enterprise_tenant(f"claim-{uuid.uuid4().hex[:6]}")
        for _ in range(min(PER_TENANT, backlog - len(ids))):
            ids.append(_create(tenant).dispatch_id)
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


# --- (a) hot keys ----------------------------------------------------------------------------


Write = tuple[str, dict, frozenset[str] | None]  # table, key, attributes an update names


def _capture(writes: list[Write]):
    def capture(params, model, **_):
        body = json.loads(params["body"])
        if model.name == "TransactWriteItems":
            for entry in body["TransactItems"]:
                for kind, action in entry.items():
                    if kind != "ConditionCheck":
                        writes.append(_write(kind, action))
        elif model.name in ("UpdateItem", "PutItem", "DeleteItem"):
            writes.append(_write(model.name.removesuffix("Item"), body))

    return capture


def _write(kind: str, action: dict) -> Write:
    """A Put or Delete may change any attribute; an Update only those its expression names."""
    named = None
    if kind == "Update":
        aliases = action.get("ExpressionAttributeNames", {})
        words = re.findall(r"#?\w+", action["UpdateExpression"])
        named = frozenset(aliases.get(w, w) for w in words)
    return action["TableName"], action.get("Key") or action["Item"], named


def _partitions(table: str, key: dict, named: frozenset[str] | None = None) -> list[str]:
    """The base partition and every index partition the write rewrites, taken from the item
    at `key` once the run is over (a status index entry moves with the status: its partition
    here is the last). An update rewrites an index entry only if it names one of the index's
    keys or projected attributes."""
    definition = next(t for t in ALL_TABLES if t.name == table)
    item_key = {n: key[n] for n in (definition.hash_key, definition.range_key) if n}
    found = [f"{table} {definition.hash_key}={next(iter(key[definition.hash_key].values()))}"]
    item = call("get_item", TableName=table, Key=item_key).get("Item") or {}
    for index in definition.indexes:
        shown = {index.hash_key, index.range_key, *(index.projected or ())}
        if named is not None and index.projected is not None and not named & shown:
            continue
        if index.hash_key in item and (index.range_key is None or index.range_key in item):
            value = next(iter(item[index.hash_key].values()))
            found.append(f"{table} {index.name} {index.hash_key}={value}")
    return found


def hot_keys(_: object) -> None:
    tables_and_staff()
    count = int(os.environ.get("BENCH_SCALE_DISPATCHES", "600"))
    tenants = [
        enterprise_tenant(f"hot-{n}")[0]
        for n in range(int(os.environ.get("BENCH_SCALE_TENANTS", "60")))
    ]
    writes: list[Write] = []
    hook = _capture(writes)
    events = client().meta.events
    for operation in ("TransactWriteItems", "UpdateItem", "PutItem", "DeleteItem"):
        events.register(f"before-call.dynamodb.{operation}", hook)
    started = utcnow()
    try:
        for n in range(count):
            tenant = tenants[n % len(tenants)]
            dispatch = _create(tenant, agent=list(AGENTS)[n % len(AGENTS)])
            claimed = storage.dispatch_claim(dispatch, worker_id="bench", now=utcnow())
            assert claimed is not None
            services.dispatch_finish(claimed, status=DispatchStatus.COMPLETED)
    finally:
        for operation in ("TransactWriteItems", "UpdateItem", "PutItem", "DeleteItem"):
            events.unregister(f"before-call.dynamodb.{operation}", hook)
    per_key: Counter[str] = Counter()
    for table, key, named in writes:
        per_key.update(_partitions(table, key, named))
    total = sum(per_key.values())
    print(
        f"(a) partitions written by create, claim and finish of {count} dispatches over {len(tenants)} tenants: {len(per_key)} partitions, {total} writes"
    )
    print("| partition (table, index, key) | writes | share |")
    print("|---|---|---|")
    for name, n in per_key.most_common(8):
        print(f"| {name[:110]} | {n} | {n / total:.1%} |")
    _follow_and_time(started)


def _create(tenant, *, agent: str = "claude"):
    data = services.DispatchInput(
        agent=agent,
        task="Fix the failing test in utils.py",
        model_id=AGENTS[agent].default_model,
        timeout_seconds=600,
    )
    return services.dispatch_create(
        tenant_id=tenant.tenant_id,
        api_key_id="",
        limits=tenant.limits,
        data=data,
        body_hash="",
        render=lambda d: {},
        actor=Actor(name="bench"),
    )


# --- (c) the stream handler ------------------------------------------------------------------


def _follow_and_time(since) -> None:
    """Follow the streams to the end, as the workers do; records per second and lag."""
    lag_before = max((lease.lag_seconds(utcnow()) for lease in leases.shard_leases()), default=0)
    started, handled, passes = time.monotonic(), 0, 0
    while True:
        followed = backfill.follow_streams(holder="bench", old_lease=reconcile.LEASE)
        handled, passes = handled + followed.handled, passes + 1
        if not followed.kept:  # what is left is the leases' own records
            break
    seconds = time.monotonic() - started
    lag = [lease.lag_seconds(utcnow()) for lease in leases.shard_leases()]
    print(
        f"(c) stream handler: {handled} records in {seconds:.1f} s over {passes} passes "
        f"= {handled / max(seconds, 0.001):.0f} records/s (filter included); follower lag "
        f"before {lag_before} s, after {max(lag, default=0)} s"
    )


# --- (b) the largest items after a busy day ---------------------------------------------------


def largest_items() -> None:
    """Build a day's roll-up cells for 10,000 tenants as the stream handler builds them, and
    size every item by DynamoDB's rules."""
    tenants = int(os.environ.get("BENCH_SCALE_DAY_TENANTS", "10000"))
    now = utcnow().replace(hour=23, minute=0)
    cells: dict[tuple, Counter[str]] = defaultdict(Counter)
    for t in range(tenants):
        tenant_id = f"{t:08d}-0000-4000-8000-000000000000"
        for n in range(3):
            agent = list(AGENTS)[(t + n) % len(AGENTS)]
            dispatch = Dispatch(
                dispatch_id=f"01J{t:010d}{n:03d}",
                tenant_id=tenant_id,
                agent=agent,
                model_id=AGENTS[agent].default_model,
                task="x",
                status=DispatchStatus.PENDING if n == 2 else DispatchStatus.COMPLETED,
                started_at=now - timedelta(hours=n),
                claimed_at=None if n == 2 else now - timedelta(hours=n),
                ended_at=None if n == 2 else now,
                api_key_id=f"key-{t}-{n % 3}",
                origin=ORIGIN,
            )
            image = storage._to_item(dispatch)
            step = rollups_stream._step(image, {"status": str(dispatch.status)})
            assert step is not None
            for key, added in step.cells.items():
                cells[key].update(added)
    sizes: dict[str, int] = defaultdict(int)
    for key, counted in [*cells.items(), *_top_items(cells).items()]:
        item = {**to_item(dict(key)), **{c: {"N": str(n)} for c, n in counted.items()}}
        kind = _kind(dict(key))
        sizes[kind] = max(sizes[kind], item_size(item))
    sizes["bound: USAGE#<month>#KEY#<key>, every cell of 31 days at 10^6"] = _busiest_key_month()
    quota = counters.count_quota_day("t" * 36, now.date(), max_per_day=10000)[1]["Update"]
    quota_item = {**quota["Key"], "dispatches": {"N": "10000"}}
    sizes["quota: USAGE#<day> (create's transaction)"] = item_size(quota_item)
    print(f"(b) largest item of each kind after a day with {tenants} tenants x 3 dispatches")
    print("| item | bytes |")
    print("|---|---|")
    for kind, size in sorted(sizes.items()):
        print(f"| {kind} | {size:,} |")


def _busiest_key_month() -> int:
    """A key's month item at its largest: every day, agent, status and limit counted."""
    first = utcnow().date().replace(day=1)
    cells: dict[str, int] = {}
    for n in range(31):
        day = first + timedelta(days=n)
        for agent in AGENTS:
            cells[rollups.key_created_cell(day, agent)] = 10**6
            for status in ("completed", "failed", "timeout", "cancelled"):
                cells[rollups.key_finished_cell(day, status, agent)] = 10**6
            for limit in ("concurrency", "daily"):
                cells[rollups.key_rejected_cell(day, limit, agent)] = 10**6
    key = rollups.key_month_key("t" * 36, first, "k" * 36)
    return item_size({**key, **to_item(cells)})


def _top_items(cells: dict[tuple, Counter[str]]) -> dict[tuple, Counter[str]]:
    """The top items the stream keeps beside the day shards: each shard's K largest of the
    tenants' counts (their `agent_<a>` cells), as `top_tenants.top_tenants_merge` keeps them."""
    counts: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)
    for key, counted in cells.items():
        tenant_id, sort = dict(key)["tenant_id"], dict(key)["sk"]
        if sort.endswith("#CELLS"):
            day = sort.split("#")[1]
            counts[(day, rollups.tenant_shard(tenant_id))][tenant_id] = rollups.created_count(
                counted
            )
    tops: dict[tuple, Counter[str]] = {}
    for (day, shard), fresh in counts.items():
        kept = rollups.top_merge({}, fresh, rollups.top_size())
        key = tuple(sorted({"tenant_id": f"STATS#{day}#{shard}", "sk": "TOP"}.items()))
        tops[key] = Counter(
            {"version": 10**6, **{rollups.tenant_cell(t): n for t, n in kept.items()}}
        )
    return tops


def _kind(key: dict) -> str:
    partition, sort = key["tenant_id"], key["sk"]
    if partition.startswith("STATS#QUEUE"):
        return "stream: STATS#QUEUE#<n> (the queue)"
    if sort == "DAY":
        return "stream: STATS#<day>#<n> (the day across tenants)"
    if sort == "TOP":
        return f"stream: STATS#<day>#<n> TOP (a shard's top tenants, K = {rollups.top_size()})"
    if sort == "FIVE":
        return "stream: STATS#<time>#<n> (five-minute finishes)"
    if "#KEY#" in sort:
        return "stream: USAGE#<month>#KEY#<key> (a key's month)"
    return "stream: USAGE#<day>#CELLS (a tenant's breakdowns)"


# --- (d) ---------------------------------------------------------------------------------------


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
    run_against_local_store(hot_keys, read_timeout=30)
    largest_items()
    run_against_local_store(claims, read_timeout=30)
