"""Usage roll-ups from the stream, exactly once: a replayed batch and a consumer that dies
half-way count nothing twice, and every figure matches the dispatches that really ran."""

from collections import Counter

import pytest

from dispatches import lifecycle as services
from dispatches import storage
from dispatches.domain import Dispatch, DispatchStatus
from fleet import selectors as fleet_selectors
from outpost_admin.audit import Actor
from outpost_admin.dynamo import client, utcnow
from outpost_admin.dynamo.tables import DISPATCHES
from tenants import services as tenant_services
from tenants.domain import Scope, Tier
from tests.compat.test_streams import lambda_event, stream_records
from tests.conftest import roll_up
from usage import rollups_stream, stream_handler
from usage.selectors import usage_report

from .workers import ACTOR, create

pytestmark = pytest.mark.django_db

PLAN = [  # (agent, key number, what happens to it)
    ("claude", 0, "COMPLETED"),
    ("claude", 0, "FAILED"),
    ("claude", 1, "waits"),
    ("codex", 1, "CANCELLED while waiting"),
    ("codex", 0, "requeued, then TIMEOUT"),
    ("gemini", 1, "runs"),
    ("gemini", 0, "COMPLETED"),
]


def play(dispatch: Dispatch, fate: str) -> None:
    """Move it as a worker, a canceller or recovery would."""
    if fate == "waits":
        return
    if fate.startswith("CANCELLED"):
        services.dispatch_cancel(dispatch=dispatch, actor=ACTOR)
        return
    claimed = storage.dispatch_claim(dispatch, worker_id="w-rollups", now=utcnow())
    assert claimed is not None
    if fate.startswith("requeued"):
        assert services.dispatch_requeue(claimed, reason="Worker w-rollups stopped.")
        claimed = storage.dispatch_claim(
            storage.dispatch_get(dispatch.dispatch_id), worker_id="w-2", now=utcnow()
        )
        assert claimed is not None
    if fate == "runs":
        return
    services.dispatch_finish(claimed, status=DispatchStatus(fate.split()[-1]))


@pytest.fixture(autouse=True)
def every_tenant_ranked(settings):
    """The session's other tenants share today's top items: with K this large, none of
    these tenants is left out of its shard's list, so its count there can be compared."""
    settings.OUTPOST_USAGE_TOP_TENANTS = 100_000


@pytest.fixture
def traffic(make_tenant):
    """Three tenants, two keys each, the PLAN played for each: the truth, and the records."""
    made = []
    for _ in range(3):
        tenant, first = make_tenant(tier=Tier.ENTERPRISE)
        second = tenant_services.key_create(
            tenant_id=tenant.tenant_id,
            name="second",
            scopes=(Scope.DISPATCH,),
            expires_at=None,
            actor=Actor(name="tester"),
        )
        keys = [first.key.api_key_id, second.key.api_key_id]
        for agent, key, fate in PLAN:
            dispatch = create(tenant, agent=agent, timeout=600, key_id=keys[key])
            play(dispatch, fate)
            made.append(dispatch.dispatch_id)
    return made


def truth(dispatch_ids: list[str]) -> dict[str, Counter]:
    """The figures the pages must show, from the dispatches themselves."""
    figures: dict[str, Counter] = {}
    for dispatch in map(storage.dispatch_get, dispatch_ids):
        tenant = figures.setdefault(dispatch.tenant_id, Counter())
        tenant[f"agent {dispatch.agent}"] += 1
        tenant[f"key {dispatch.api_key_id}"] += 1
        status = dispatch.status.api_value if dispatch.status.is_terminal else "active"
        tenant[f"status {status}"] += 1
        tenant[f"key {dispatch.api_key_id} status {status}"] += 1
        tenant["among every tenant"] += 1
    return figures


def shown(tenant_ids) -> dict[str, Counter]:
    """The figures the usage report (page, API and CSV read it) shows for each tenant today:
    by agent, key and status, by status for each key alone (its filter), and its count among
    every tenant (the top tenants' figure)."""
    today = utcnow().date()
    everyone = usage_report(tenant_id=None, since=today, until=today).totals.by_tenant
    figures: dict[str, Counter] = {}
    for tenant_id in tenant_ids:
        day = usage_report(tenant_id=tenant_id, since=today, until=today).days[-1]
        counts = Counter({f"agent {a}": n for a, n in day.by_agent.items()})
        counts.update({f"key {k}": n for k, n in day.by_key.items()})
        counts.update({f"status {s}": n for s, n in day.by_status.items() if n})
        for key in day.by_key:
            alone = usage_report(tenant_id=tenant_id, since=today, until=today, key_id=key)
            statuses = alone.days[-1].by_status.items()
            counts.update({f"key {key} status {s}": n for s, n in statuses if n})
        if everyone.get(tenant_id):
            counts["among every tenant"] = everyone[tenant_id]
        figures[tenant_id] = counts
    return figures


def waiting(agent: str) -> int:
    return next(
        a for a in fleet_selectors.fleet_board(now=utcnow()).agents if a.agent == agent
    ).queue_depth


def event_of(dispatch_ids: list[str]) -> dict:
    """The stream's records of these dispatches, as Lambda hands them to the handler."""
    wanted = {{"S": i}.__repr__() for i in dispatch_ids}
    pairs = [
        (shard, record)
        for shard, record in stream_records(DISPATCHES.name)
        if repr(record["dynamodb"]["Keys"].get("dispatch_id")) in wanted
    ]
    return lambda_event(pairs, DISPATCHES.name)


def test_a_replayed_batch_counts_nothing_twice_and_every_figure_matches(traffic):
    roll_up()  # whatever the session's stream held before: the figures start from here
    queue_before = {a: waiting(a) for a in ("claude", "codex", "gemini")}
    event = event_of(traffic)
    assert len(event["Records"]) >= len(traffic)
    first = stream_handler.handle_batch(event)
    again = stream_handler.handle_batch(event)  # Lambda retried it, or a follower re-read it
    roll_up()  # and the follower read the same records once more
    assert first == again == {"batchItemFailures": []}
    tenants = {storage.dispatch_get(i).tenant_id for i in traffic}
    assert shown(tenants) == truth(traffic)
    assert {a: waiting(a) for a in queue_before} == queue_before


def test_a_consumer_that_dies_half_way_counts_everything_once_when_the_batch_comes_again(
    traffic, monkeypatch
):
    """Nobody has counted these records yet: the first consumer, whose transactions are
    small, dies after its first one; the batch comes again and counts the rest, once."""
    monkeypatch.setattr(rollups_stream, "MAX_ACTIONS", 12)
    writes: list[int] = []

    class Died(Exception):
        pass

    def die_after_first(**_):
        writes.append(1)
        if len(writes) == 2:
            raise Died

    events = client().meta.events
    events.register("before-call.dynamodb.TransactWriteItems", die_after_first)
    try:
        with pytest.raises(Died):
            stream_handler.handle_batch(event_of(traffic))
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", die_after_first)
    tenants = {storage.dispatch_get(i).tenant_id for i in traffic}
    assert shown(tenants) != truth(traffic)  # half-way: the first transaction's share only
    assert stream_handler.handle_batch(event_of(traffic)) == {"batchItemFailures": []}
    roll_up()  # and the follower reads them all once more
    assert shown(tenants) == truth(traffic)
