"""Usage roll-ups: counted from the stream (the 429 path counts its own), read by day."""

from collections import Counter

import pytest

from dispatches import lifecycle as services
from dispatches.domain import DispatchStatus
from outpost_admin.dynamo import counting_calls, utcnow
from tenants.domain import Tier
from tests.conftest import roll_up
from usage import rollups
from usage.selectors import usage_report

from .conftest import create, finish, second_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy_tenant(make_tenant):
    """Key A: 3 claude (1 completed, 1 failed, 1 pending). Key B: 2 codex (1 cancelled, 1 pending)."""
    tenant, first = make_tenant()
    second = second_key(tenant)
    a = [create(first.raw, "claude")["dispatchId"] for _ in range(3)]
    b = [create(second.raw, "codex")["dispatchId"] for _ in range(2)]
    finish(a[0], "COMPLETED")
    finish(a[1], "FAILED")
    finish(b[0], "CANCELLED", claim=False)
    return tenant, first.key.api_key_id, second.key.api_key_id


def today_of(tenant_id, **filters):
    today = utcnow().date()
    return usage_report(tenant_id=tenant_id, since=today, until=today, **filters).days[-1]


def test_each_dispatch_is_counted_by_status_agent_and_key(busy_tenant):
    tenant, key_a, key_b = busy_tenant
    day = today_of(tenant.tenant_id)
    assert day.dispatches == 5
    assert day.by_status == {
        "success": 1,
        "failed": 1,
        "timeout": 0,
        "cancelled": 1,
        "active": 2,
    }
    assert day.by_agent == {"claude": 3, "codex": 2}
    assert day.by_key == {key_a: 3, key_b: 2}


def test_the_filters_narrow_every_count(busy_tenant):
    tenant, key_a, _ = busy_tenant
    codex = today_of(tenant.tenant_id, agent="codex")
    assert codex.by_status == {
        "success": 0,
        "failed": 0,
        "timeout": 0,
        "cancelled": 1,
        "active": 1,
    }
    assert codex.by_agent == {"codex": 2}
    by_key = today_of(tenant.tenant_id, key_id=key_a)
    assert by_key.by_agent == {"claude": 3} and by_key.by_status["active"] == 1


def test_run_times_are_counted_for_dispatches_that_ran(busy_tenant):
    tenant, _, _ = busy_tenant
    run = today_of(tenant.tenant_id).run_time
    assert list(run) == ["claude"]  # the cancelled codex dispatch never ran
    assert run["claude"].runs == 2 and run["claude"].p50 == 1.0 and run["claude"].p95 == 1.0


def test_every_tenant_is_counted_in_the_day_shards(make_tenant):
    today = utcnow().date()
    before = usage_report(tenant_id=None, since=today, until=today).totals
    tenant, issued = make_tenant()
    for _ in range(2):
        create(issued.raw, "gemini")
    after = usage_report(tenant_id=None, since=today, until=today).totals
    assert after.by_tenant[tenant.tenant_id] == 2
    assert after.by_agent["gemini"] - before.by_agent.get("gemini", 0) >= 2


def test_tenants_are_spread_over_the_day_shards(make_tenant):
    """Two tenants land on different day shards: no roll-up item is written for every tenant."""
    shards: set[str] = set()
    while len(shards) < 2:
        tenant, _ = make_tenant()
        shards.add(rollups.tenant_shard_key(tenant.tenant_id, utcnow().date())["tenant_id"]["S"])
    assert len(shards) == 2


def test_a_refusal_is_counted_from_the_stream_once_with_one_extra_call(make_tenant):
    """The refused path writes one small item under its tenant (no roll-up item, nothing
    other tenants write); the roll-ups count it from the stream, once, and delete it."""
    tenant, issued = make_tenant(tier=Tier.FREE)  # one concurrent dispatch
    create(issued.raw)  # warms the key cache too
    with counting_calls() as refused:
        body = create(issued.raw, expect=429)
    assert body["error"]["details"]["limit"] == "concurrency"
    assert refused.by_operation() == Counter({"TransactWriteItems": 1, "PutItem": 1})
    roll_up()
    roll_up()  # the stream seen again: still counted once
    day = today_of(tenant.tenant_id)
    assert day.rejections == {"concurrency": 1, "daily": 0, "budget": 0, "key_budget": 0}
    assert day.dispatches == 1
    assert not _refusals_left(tenant.tenant_id)


def _refusals_left(tenant_id: str) -> list[dict]:
    from outpost_admin.dynamo import call, values
    from outpost_admin.dynamo.tables import TENANTS

    return call(
        "query",
        TableName=TENANTS.name,
        KeyConditionExpression="tenant_id = :t AND begins_with(sk, :r)",
        ExpressionAttributeValues=values({":t": tenant_id, ":r": "REFUSED#"}),
    )["Items"]


def test_counting_adds_no_call_to_a_successful_create(make_tenant):
    _, issued = make_tenant()
    create(issued.raw)
    with counting_calls() as log:
        create(issued.raw)
    assert log.by_operation() == Counter({"TransactWriteItems": 1})


def test_a_finish_is_one_transaction_and_its_outcome_is_counted_from_the_stream(make_tenant):
    tenant, issued = make_tenant()
    dispatch_id = create(issued.raw)["dispatchId"]
    from dispatches import storage

    dispatch = storage.dispatch_get(dispatch_id)
    with counting_calls() as log:
        services.dispatch_finish(dispatch, status=DispatchStatus.TIMEOUT)
    assert log.by_operation() == Counter({"TransactWriteItems": 1})
    assert today_of(tenant.tenant_id).by_status.get("timeout", 0) == 0  # not yet
    roll_up()
    assert today_of(tenant.tenant_id).by_status["timeout"] == 1


def test_day_items_written_before_the_cells_still_count():
    from usage.figures import parse_cells

    cells = parse_cells({"dispatches": 3, "agent_claude": 3, "status_completed": 2})
    assert cells.created == Counter({("claude", "-"): 3})
    assert cells.finished == Counter({("completed", "-", "-"): 2})
