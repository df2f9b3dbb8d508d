"""Issue 13 point 3: every roll-up item stays under 64 KB whatever the number of tenants or
keys, and every figure stays exact. Each test counts its dispatches on a day of its own (far
in the future), so the day's shards, top items and five-minute buckets are its own."""

import random
import secrets
import uuid
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from math import ceil

import pytest

from dispatches import storage
from dispatches.domain import AGENTS, ORIGIN, Dispatch, DispatchStatus
from dispatches.lifecycle import new_dispatch_id
from outpost_admin.dynamo import call, client, counting_calls, from_item, to_item, values
from outpost_admin.dynamo.sizes import item_size
from outpost_admin.dynamo.tables import DISPATCHES, TENANTS
from tests.conftest import roll_up
from usage import rollups, rollups_stream, top_tenants
from usage.figures import FINISHED, LIMITS, Cells, top_exact
from usage.selectors import usage_report

pytestmark = pytest.mark.django_db

ROLL_UP_BOUND = 64 * 1024
DAY_ITEM_BOUND = 4096  # a tenant's day of breakdowns, whatever its keys
K = 10

Plan = list[tuple[str, str, str, str]]  # tenant, key ("" for none), agent, status


DAYS_TAKEN: set[date] = set()


@pytest.fixture
def day() -> date:
    """A day no other test of this run counts on, drawn from the OS's entropy (the global
    `random` can be seeded by other tests' libraries): 2040 to 2094, so past runs against a
    kept store rarely share one either."""
    while (d := date(2040, 1, 1) + timedelta(days=secrets.randbelow(20_000))) in DAYS_TAKEN:
        pass
    DAYS_TAKEN.add(d)
    return d


@pytest.fixture
def top_size(settings) -> int:
    settings.OUTPOST_USAGE_TOP_TENANTS = K
    return K


def images(day: date, plan: Plan) -> list[dict]:
    """Our dispatches of that day, finished as planned (so none waits in the queue items)."""
    start = datetime.combine(day, time(12), tzinfo=UTC)
    made = []
    for tenant_id, key_id, agent, status in plan:
        ran = status != "CANCELLED"
        dispatch = Dispatch(
            dispatch_id=new_dispatch_id(),
            tenant_id=tenant_id,
            agent=agent,
            model_id=AGENTS[agent].default_model,
            task="Count me once",
            status=DispatchStatus(status),
            started_at=start,
            claimed_at=start if ran else None,
            ended_at=start + timedelta(seconds=3),
            timeout_seconds=60,
            api_key_id=key_id,
            origin=ORIGIN,
        )
        made.append(storage._to_item(dispatch))
    return made


def put(items: list[dict]) -> None:
    for start in range(0, len(items), 25):
        pending = {
            DISPATCHES.name: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]
        }
        while pending:
            pending = call("batch_write_item", RequestItems=pending).get("UnprocessedItems") or {}


def run(day: date, plan: Plan) -> list[dict]:
    """Written as the API writes them, counted as the follower counts them."""
    made = images(day, plan)
    put(made)
    roll_up()
    return made


def item(tenant_id: str, sk: str) -> dict:
    key = to_item({"tenant_id": tenant_id, "sk": sk})
    return call("get_item", TableName=TENANTS.name, Key=key, ConsistentRead=True).get("Item", {})


def stats(day: date, shard: int, sk: str) -> dict:
    return item(f"STATS#{day.isoformat()}#{shard}", sk)


def true_top(plan: Plan, tenants: list[str] | None = None) -> list[tuple[str, int]]:
    counts = Counter(t for t, *_ in plan if tenants is None or t in tenants)
    return sorted(counts.items(), key=lambda tn: (-tn[1], tn[0]))


# --- many tenants ---------------------------------------------------------------------------


def three_hundred_tenants() -> Plan:
    """Tenants of this test alone (a fresh seed each time), so no other test's counts of the
    same day can add to theirs."""
    rng = random.Random(secrets.randbits(64))
    plan: Plan = []
    for n in range(300):
        tenant_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        for m in range(1 + rng.randrange(4)):
            agent = list(AGENTS)[(n + m) % len(AGENTS)]
            plan.append((tenant_id, "", agent, "COMPLETED"))
    return plan


def test_300_tenants_leave_each_day_shard_bounded_and_the_top_tenants_exact(day, top_size):
    plan = three_hundred_tenants()
    run(day, plan)
    for shard in range(rollups.DAY_SHARDS):
        day_item = stats(day, shard, "DAY")
        assert not [n for n in day_item if n.startswith("t/")]  # no cell per tenant
        assert item_size(day_item) <= DAY_ITEM_BOUND
        top = stats(day, shard, "TOP")
        mine = [t for t, *_ in plan if rollups.tenant_shard(t) == shard]
        assert rollups.top_cells(from_item(top)) == dict(true_top(plan, mine)[:K])
        assert item_size(top) <= 100 + K * 45
    shown = usage_report(tenant_id=None, since=day, until=day)
    assert [(t.tenant_id, t.dispatches) for t in shown.top_tenants] == true_top(plan)[:10]
    assert shown.top_tenants_exact
    assert shown.dispatches == len(plan)


def test_a_consumer_that_dies_before_ranking_ranks_when_the_batch_comes_again(
    day, top_size, monkeypatch
):
    """Its transactions counted the dispatches; it dies before the top items are merged. The
    batch comes again: nothing is counted twice, and the tenants are ranked."""
    plan = three_hundred_tenants()[:60]
    made = images(day, plan)
    put(made)

    def dies(pairs):
        raise RuntimeError("consumer killed")

    monkeypatch.setattr(top_tenants, "top_tenants_merge", dies)
    with pytest.raises(RuntimeError):
        rollups_stream.count_images(made)
    assert not any(stats(day, n, "TOP") for n in range(rollups.DAY_SHARDS))
    monkeypatch.undo()
    rollups_stream.count_images(made)  # the same records, handed over again
    roll_up()  # and the follower sees them once more
    shown = usage_report(tenant_id=None, since=day, until=day)
    assert shown.dispatches == len(plan)
    assert [(t.tenant_id, t.dispatches) for t in shown.top_tenants] == true_top(plan)[:10]


def test_a_top_item_written_meanwhile_is_read_again_and_merged(day, top_size):
    """Another consumer puts the top item between our read and our write: ours is refused
    (its version moved), read again and merged, so neither's tenants are lost."""
    plan = three_hundred_tenants()
    shard = rollups.tenant_shard(plan[0][0])
    mine = [p for p in plan if rollups.tenant_shard(p[0]) == shard][:24]
    run(day, mine[:12])
    second = images(day, mine[12:])
    put(second)
    other = str(uuid.uuid4())
    raced: list[str] = []

    def another_consumer_first(params, **_):
        if params["Item"]["sk"] == {"S": "TOP"} and not raced:
            raced.append(other)
            call(
                "update_item",
                TableName=TENANTS.name,
                Key=rollups.top_key(day, shard),
                UpdateExpression="ADD #v :one, #t :many",
                ExpressionAttributeNames={"#v": "version", "#t": f"t/{other}"},
                ExpressionAttributeValues=values({":one": 1, ":many": 100}),
            )

    events = client().meta.events
    events.register("provide-client-params.dynamodb.PutItem", another_consumer_first)
    try:
        with counting_calls() as log:
            rollups_stream.count_images(second)
    finally:
        events.unregister("provide-client-params.dynamodb.PutItem", another_consumer_first)
    assert raced and log.by_operation()["GetItem"] == 1  # read again once
    top = rollups.top_cells(from_item(stats(day, shard, "TOP")))
    assert top == dict(sorted([*true_top(mine), (other, 100)], key=lambda tn: (-tn[1], tn[0]))[:K])


def test_a_range_ranks_exactly_when_it_can_tell_and_says_so_when_it_cannot():
    def day_of(tenants: dict[str, int], floors: dict[int, int]) -> Cells:
        return Cells(tenants=Counter(tenants), floors=Counter(floors))

    a, b = "tenant-a", "tenant-b"
    sa, sb = rollups.tenant_shard(a), rollups.tenant_shard(b)
    complete = [day_of({a: 5}, {}), day_of({b: 3}, {})]
    assert top_exact(complete, [(a, 5), (b, 3)])
    # b missing from a full list on day 1 (whose smallest count is 4): b could have 7 > 5
    unsure = [day_of({a: 5}, {sb: 4, sa: 4}), day_of({b: 3, a: 1}, {})]
    assert not top_exact(unsure, [(a, 6), (b, 3)])
    clear = [day_of({a: 50}, {sb: 1, sa: 1}), day_of({a: 40, b: 3}, {sa: 1, sb: 1})]
    assert top_exact(clear, [(a, 90), (b, 3)]) is False  # b's total is uncertain: shown
    assert top_exact(clear, [(a, 90)])


# --- many keys --------------------------------------------------------------------------------


def two_hundred_keys(tenant_id: str) -> tuple[list[str], Plan]:
    keys = [str(uuid.uuid4()) for _ in range(200)]
    plan: Plan = []
    for n, key in enumerate(keys):
        agent = list(AGENTS)[n % len(AGENTS)]
        plan.append((tenant_id, key, agent, "COMPLETED"))
        plan.append((tenant_id, key, agent, FINISHED[1 + n % 3].upper()))
    plan += [(tenant_id, "", "claude", "TIMEOUT")] * 3  # and some without a key
    return keys, plan


def test_200_keys_write_no_roll_up_item_over_64_kb_and_each_keys_figures_are_exact(day):
    tenant_id = str(uuid.uuid4())
    keys, plan = two_hundred_keys(tenant_id)
    run(day, plan)
    written = call(
        "query",
        TableName=TENANTS.name,
        KeyConditionExpression="tenant_id = :t AND begins_with(sk, :u)",
        ExpressionAttributeValues=values({":t": tenant_id, ":u": "USAGE#"}),
        ConsistentRead=True,
    )["Items"]
    assert len(written) == 1 + 200  # the day's breakdowns, a month item per key
    assert max(item_size(i) for i in written) <= ROLL_UP_BOUND
    cells = item(tenant_id, f"USAGE#{day.isoformat()}#CELLS")
    assert item_size(cells) <= DAY_ITEM_BOUND
    assert all(n.endswith("/-") for n in cells if n[:2] in ("c/", "s/", "r/"))

    with counting_calls() as log:
        report = usage_report(tenant_id=tenant_id, since=day, until=day, key_ids=keys)
    # 2 day items + 200 key months = 202 keys: three BatchGetItem
    assert log.by_operation() == Counter({"BatchGetItem": ceil(202 / 100)})
    assert report.totals.by_key == Counter(k or "-" for _, k, _, _ in plan)
    assert report.totals.by_agent == Counter(a for _, _, a, _ in plan)
    one = keys[7]
    only = usage_report(tenant_id=tenant_id, since=day, until=day, key_id=one).totals
    statuses = Counter(DispatchStatus(s).api_value for _, k, _, s in plan if k == one)
    assert {s: n for s, n in only.by_status.items() if n} == statuses
    assert only.by_key == {one: 2}


def test_a_keys_month_item_stays_under_64_kb_however_busy():
    """Every cell a key's month can hold: 31 days x agents x (created, 4 statuses, 2 limits),
    each at the largest count a number's size allows for (21 bytes): ~41 KB with 5 agents."""
    first = date(2040, 1, 1)
    cells = {}
    for n in range(31):
        d = first + timedelta(days=n)
        for agent in AGENTS:
            cells[rollups.key_created_cell(d, agent)] = 10**37
            for status in FINISHED:
                cells[rollups.key_finished_cell(d, status, agent)] = 10**37
            for limit in LIMITS:
                cells[rollups.key_rejected_cell(d, limit, agent)] = 10**37
    month = {**rollups.key_month_key(str(uuid.uuid4()), first, str(uuid.uuid4())), **to_item(cells)}
    assert item_size(month) <= ROLL_UP_BOUND


# --- a day counted in the layout before --------------------------------------------------------


def test_a_day_counted_in_the_layout_before_reads_the_same_and_adds_up_after(day, top_size):
    """Half the day was counted before the upgrade: key cells on the tenant's day item and
    a `t/` cell on the day shard. The other half is counted now: every figure adds up."""
    tenant_id, k1, k2 = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    old = {
        "agent_claude": 3,
        "agent_codex": 1,
        "status_completed": 2,
        f"c/claude/{k1}": 2,
        "c/claude/-": 1,
        f"c/codex/{k1}": 1,
        f"s/completed/claude/{k1}": 2,
        "h/claude/2": 2,
    }
    call(
        "put_item",
        TableName=TENANTS.name,
        Item={**rollups.usage_cells_key(tenant_id, day), **to_item(old)},
    )
    call(
        "update_item",
        TableName=TENANTS.name,
        Key=rollups.tenant_shard_key(tenant_id, day),
        UpdateExpression="ADD #t :four, #c :three, #d :one",
        ExpressionAttributeNames={"#t": f"t/{tenant_id}", "#c": "c/claude/-", "#d": "c/codex/-"},
        ExpressionAttributeValues=values({":four": 4, ":three": 3, ":one": 1}),
    )
    run(day, [(tenant_id, k1, "claude", "FAILED"), (tenant_id, k2, "codex", "COMPLETED")])

    report = usage_report(tenant_id=tenant_id, since=day, until=day, key_ids=[k1, k2]).totals
    assert report.by_key == {k1: 4, k2: 1, "-": 1}
    assert report.by_agent == {"claude": 4, "codex": 2}
    assert {s: n for s, n in report.by_status.items() if n} == {
        "success": 3,
        "failed": 1,
        "active": 2,  # the old half's claude and codex never finished
    }
    k1_only = usage_report(tenant_id=tenant_id, since=day, until=day, key_id=k1).totals
    assert k1_only.by_agent == {"claude": 3, "codex": 1}
    everyone = usage_report(tenant_id=None, since=day, until=day)
    assert [(t.tenant_id, t.dispatches) for t in everyone.top_tenants] == [(tenant_id, 6)]
