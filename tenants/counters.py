"""The tenant's quota counters: concurrency slots and the daily count. Their only owner.

Every writer (dispatch create and finish, the recovery sweep, the backfill of the control
plane's records) takes these as named transaction actions and puts them in its own
transaction, so a counter moves in the same write as the thing it counts.

- Concurrency: `currentUsage.concurrentJobs` on the tenant item (the attribute the control
  plane also reads), plus one slot marker per dispatch holding a slot, in the tenants table
  at `tenant_id = "SLOTS#<crc32(tenant id) % 16>"`, `sk = "<tenant id>#<dispatch id>"`: a
  tenant's markers stay in one partition (its recount reads one shard) while the platform's
  writes spread over 16 (one partition took them all before, ~250 transactional writes/s).
  Taking a slot puts the marker; releasing deletes it on condition that it exists, in the
  same transaction as the decrement, so whoever releases first wins and every later attempt
  is a no-op. Markers an earlier version wrote in the single `SLOTS` partition are still
  read and released (`transact_releasing` falls back to them); this version writes none.
- Daily count: the create's transaction adds one to `dispatches` on the tenant's
  `USAGE#YYYY-MM-DD` item (the daily limit's count). Every breakdown of the day is the
  usage app's, counted from the streams (usage/rollups_stream.py).
"""

import zlib
from datetime import date, datetime
from typing import Any

from outpost_admin.dynamo import (
    Action,
    Conflict,
    TransactionConflict,
    call,
    from_item,
    iso,
    to_item,
    transact,
    values,
)
from outpost_admin.dynamo.paging import query_all
from outpost_admin.dynamo.tables import TENANTS

TENANT_SK = "TENANT"
SLOTS_PARTITION = "SLOTS"  # the prefix of the shards; alone, the layout before issue 13
SLOT_SHARDS = 16


def tenant_key(tenant_id: str) -> dict[str, Any]:
    return to_item({"tenant_id": tenant_id, "sk": TENANT_SK})


def usage_sk(day: date) -> str:
    return f"USAGE#{day.isoformat()}"


def usage_key(tenant_id: str, day: date) -> dict[str, Any]:
    return to_item({"tenant_id": tenant_id, "sk": usage_sk(day)})


def slot_shard(tenant_id: str) -> str:
    """The partition of a tenant's slot markers; crc32, not hash(), so every process agrees."""
    return f"{SLOTS_PARTITION}#{zlib.crc32(tenant_id.encode()) % SLOT_SHARDS}"


def _marker_key(tenant_id: str, dispatch_id: str, *, legacy: bool = False) -> dict[str, Any]:
    partition = SLOTS_PARTITION if legacy else slot_shard(tenant_id)
    return to_item({"tenant_id": partition, "sk": f"{tenant_id}#{dispatch_id}"})


# --- concurrency slots ---------------------------------------------------------------


def take_slot(tenant_id: str, dispatch_id: str, *, now: datetime) -> list[Action]:
    """One more running dispatch, if the tenant is active and under its limit.

    A cancellation names "slot" (the tenant item comes back with it) when the tenant is not
    active or at its limit.
    """
    counter = {
        "TableName": TENANTS.name,
        "Key": tenant_key(tenant_id),
        "UpdateExpression": "SET currentUsage.concurrentJobs = currentUsage.concurrentJobs + :one",
        "ConditionExpression": "#status = :active AND "
        "currentUsage.concurrentJobs < usageLimits.maxConcurrentJobs",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values({":one": 1, ":active": "active"}),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    marker = {
        "TableName": TENANTS.name,
        "Item": {
            **_marker_key(tenant_id, dispatch_id),
            **to_item({"tenantId": tenant_id, "dispatchId": dispatch_id, "takenAt": iso(now)}),
        },
        "ConditionExpression": "attribute_not_exists(sk)",
    }
    return [("slot", {"Update": counter}), ("slot_marker", {"Put": marker})]


def release_slot(tenant_id: str, dispatch_id: str, *, legacy: bool = False) -> list[Action]:
    """Give the slot back, once: "slot_marker_gone" fails if it was already given back (or
    its marker is in the other layout), "slot_release" if the counter is already zero (then
    release with the marker alone). `legacy`: the marker an earlier version wrote."""
    marker = {
        "TableName": TENANTS.name,
        "Key": _marker_key(tenant_id, dispatch_id, legacy=legacy),
        "ConditionExpression": "attribute_exists(sk)",
    }
    return [("slot_marker_gone", {"Delete": marker}), _decrement(tenant_id)]


def release_marker_only(tenant_id: str, dispatch_id: str, *, legacy: bool = False) -> list[Action]:
    """The release when the counter already reads zero: never drive it negative."""
    return release_slot(tenant_id, dispatch_id, legacy=legacy)[:1]


def _decrement(tenant_id: str) -> Action:
    update = {
        "TableName": TENANTS.name,
        "Key": tenant_key(tenant_id),
        "UpdateExpression": "SET currentUsage.concurrentJobs = currentUsage.concurrentJobs - :one",
        "ConditionExpression": "currentUsage.concurrentJobs > :zero",
        "ExpressionAttributeValues": values({":one": 1, ":zero": 0}),
    }
    return "slot_release", {"Update": update}


def transact_releasing(ending: list[Action], tenant_id: str, dispatch_id: str) -> bool:
    """Run the caller's `ending` actions together with the release of the dispatch's slot.

    The marker is looked for in the tenant's shard, then in the single `SLOTS` partition of
    an earlier version (a dispatch created before the upgrade); without the release when
    neither holds it (released already, or never taken), without the decrement when the
    counter already reads zero. True if this call released the slot. A marker never moves,
    so one missing from both layouts was released by someone else.
    """
    legacy = False
    release = release_slot(tenant_id, dispatch_id)
    # At most: shard, shard marker only, legacy, legacy marker only, `ending` alone.
    for _ in range(5):
        if not ending and not release:
            return False
        try:
            transact([*ending, *release])
            return bool(release)
        except TransactionConflict as exc:
            if exc.failed("slot_marker_gone"):
                release = [] if legacy else release_slot(tenant_id, dispatch_id, legacy=True)
                legacy = True
            elif exc.failed("slot_release"):
                release = release_marker_only(tenant_id, dispatch_id, legacy=legacy)
            else:
                raise
    raise AssertionError("a release settles within five tries")


def held_slots(*, tenant_id: str | None = None) -> list[tuple[str, str]]:
    """(tenant id, dispatch id) of every slot marker, or one tenant's: a Query per shard (the
    tenant's one shard) and one of the earlier single partition, read consistently so a
    release that just committed is not seen again."""
    if tenant_id:
        partitions = [slot_shard(tenant_id)]
    else:
        partitions = [f"{SLOTS_PARTITION}#{n}" for n in range(SLOT_SHARDS)]
    held: dict[tuple[str, str], None] = {}
    for partition in [*partitions, SLOTS_PARTITION]:
        for item in _markers_in(partition, tenant_id):
            held[(item["tenantId"], item["dispatchId"])] = None
    return list(held)


def old_layout_slots() -> int:
    """How many markers the single `SLOTS` partition still holds (upgrade_layout reports it:
    they drain as their dispatches end, see transact_releasing)."""
    return len(_markers_in(SLOTS_PARTITION, None))


def _markers_in(partition: str, tenant_id: str | None) -> list[dict[str, Any]]:
    condition = "tenant_id = :p"
    vals: dict[str, Any] = {":p": partition}
    if tenant_id:
        condition += " AND begins_with(sk, :t)"
        vals[":t"] = f"{tenant_id}#"
    items = query_all(
        {
            "TableName": TENANTS.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values(vals),
            "ConsistentRead": True,
        }
    )
    return [from_item(i) for i in items]


def set_concurrency(tenant_id: str, *, expected: int, actual: int) -> bool:
    """Repair the counter, only if it still holds what the recount read."""
    try:
        call(
            "update_item",
            TableName=TENANTS.name,
            Key=tenant_key(tenant_id),
            UpdateExpression="SET currentUsage.concurrentJobs = :actual",
            ConditionExpression="currentUsage.concurrentJobs = :expected",
            ExpressionAttributeValues=values({":actual": actual, ":expected": expected}),
        )
    except Conflict:
        return False
    return True


# --- daily usage ----------------------------------------------------------------------


def count_quota_day(tenant_id: str, day: date, *, max_per_day: int) -> Action:
    """One more dispatch created that day, if under the daily limit: the one count a create's
    transaction keeps (the breakdowns come from the stream, usage/rollups). A cancellation
    names "day" (the usage item comes back with it) at the limit."""
    update = {
        "TableName": TENANTS.name,
        "Key": usage_key(tenant_id, day),
        "UpdateExpression": "ADD dispatches :one",
        "ConditionExpression": "attribute_not_exists(dispatches) OR dispatches < :max",
        "ExpressionAttributeValues": values({":one": 1, ":max": max_per_day}),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    return "day", {"Update": update}


def quota_day_count(tenant_id: str, day: date) -> int:
    """How many dispatches the tenant created that day: the daily limit's count."""
    item = call(
        "get_item",
        TableName=TENANTS.name,
        Key=usage_key(tenant_id, day),
        ProjectionExpression="dispatches",
    ).get("Item", {})
    return int(item.get("dispatches", {}).get("N", 0))
