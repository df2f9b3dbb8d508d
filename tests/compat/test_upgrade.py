"""Issue 13 point 7: a table holding the layout before issue 13 carries on through
`manage.py upgrade_layout`. One dispatch left waiting by the earlier version, with every item
it wrote then: its slot marker in the one `SLOTS` partition, its breakdowns on the tenant's
quota item and in the day's shard (queue cells included), no `claim_queue` and no
`counted_by`. After the upgrade it is claimed and run once, its slot released once, and every
figure counts it once."""

from collections import Counter
from datetime import timedelta

from django.core.management import call_command

from dispatches import storage
from dispatches.domain import AGENTS, ORIGIN, Dispatch, DispatchStatus
from dispatches.lifecycle import new_dispatch_id as new_id
from outpost_admin.dynamo import call, from_item, to_item, utcnow, values
from outpost_admin.dynamo.tables import DISPATCHES, TENANTS
from tenants import counters
from tenants import storage as tenant_storage
from tests.conftest import roll_up
from tests.dispatches.workers import script, use_commands, worker_for
from usage import rollups
from usage import storage as usage_storage


def _put(table: str, item: dict) -> None:
    call("put_item", TableName=table, Item=to_item(item))


def _old_layout_dispatch(tenant, key_id: str) -> Dispatch:
    """Everything an earlier version wrote for one create, written here by hand."""
    now = utcnow()
    dispatch = Dispatch(
        dispatch_id=new_id(),
        tenant_id=tenant.tenant_id,
        agent="claude",
        model_id=AGENTS["claude"].default_model,
        task="Fix the flaky test",
        status=DispatchStatus.PENDING,
        started_at=now,
        timeout_seconds=60,
        api_key_id=key_id,
        expires_at=int((now + timedelta(days=30)).timestamp()),
        origin=ORIGIN,
    )
    item = from_item(storage._to_item(dispatch))
    for attr in ("claim_queue", "counted_by"):  # neither existed then
        item.pop(attr, None)
    _put(DISPATCHES.name, item)
    assert counters.set_concurrency(tenant.tenant_id, expected=0, actual=1)
    _put(
        TENANTS.name,
        {
            "tenant_id": "SLOTS",  # the one partition every tenant's markers shared
            "sk": f"{tenant.tenant_id}#{dispatch.dispatch_id}",
            "tenantId": tenant.tenant_id,
            "dispatchId": dispatch.dispatch_id,
            "takenAt": now.isoformat(),
        },
    )
    day = now.date()
    _put(  # the quota item held the breakdowns too, counted by the create's transaction
        TENANTS.name,
        {
            "tenant_id": tenant.tenant_id,
            "sk": f"USAGE#{day.isoformat()}",
            "dispatches": 1,
            "agent_claude": 1,
            f"c/claude/{key_id}": 1,
        },
    )
    shard = from_item(rollups.tenant_shard_key(tenant.tenant_id, day))
    minute = now.strftime("%H%M")
    call(  # the day's shard: created, the top tenants and the queue, all in one item then
        "update_item",
        TableName=TENANTS.name,
        Key=to_item(shard),
        UpdateExpression="ADD #c :one, #t :one, #q :one",
        ExpressionAttributeNames={
            "#c": "c/claude/-",
            "#t": f"t/{tenant.tenant_id}",
            "#q": f"q/claude/{minute}",
        },
        ExpressionAttributeValues=values({":one": 1}),
    )
    return dispatch


def _slots_partition(tenant) -> list[dict]:
    return call(
        "query",
        TableName=TENANTS.name,
        KeyConditionExpression="tenant_id = :p AND begins_with(sk, :t)",
        ExpressionAttributeValues=values({":p": "SLOTS", ":t": f"{tenant.tenant_id}#"}),
        ConsistentRead=True,
    )["Items"]


def test_a_dispatch_left_in_todays_layout_runs_once_and_counts_once_after_the_upgrade(
    settings, make_tenant, capsys
):
    use_commands(settings, claude=script("print('ran')"))
    tenant, issued = make_tenant()
    old = _old_layout_dispatch(tenant, issued.key.api_key_id)

    call_command("upgrade_layout")
    call_command("upgrade_layout")  # safe to run again
    out = capsys.readouterr().out
    listed = [line for line in out.splitlines() if line.startswith("claim queue:")]
    assert listed == [
        "claim queue: 1 waiting dispatch(es) listed",
        "claim queue: 0 waiting dispatch(es) listed",
    ]

    assert worker_for(tenant).run(once=True) == 1
    assert worker_for(tenant).run(once=True) == 0  # claimed once, never again
    done = storage.dispatch_get(old.dispatch_id)
    assert (done.status, done.interruptions) == (DispatchStatus.COMPLETED, 0)
    # its slot, taken in the old layout, is released once, by its finish
    assert tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs == 0
    assert _slots_partition(tenant) == []

    roll_up()
    roll_up()  # the stream seen again counts nothing twice
    day = usage_storage.usage_get(tenant.tenant_id, old.started_at.date())
    assert (day.dispatches, day.by_agent, day.by_status) == (1, {"claude": 1}, {"completed": 1})
    key_id = issued.key.api_key_id
    cells = usage_storage.tenant_cells(tenant.tenant_id, [old.started_at.date()], [key_id])
    mine = cells[old.started_at.date()]
    # created counted on the old quota item, finished on its key's month item: one key's
    assert mine.created == Counter({("claude", key_id): 1})
    assert mine.finished == Counter({("completed", "claude", key_id): 1})
    # the queue: it was never counted in the new queue items, so leaving it counts nothing
    assert all(n >= 0 for c in usage_storage.queue_cells().values() for n in c.queued.values())
