"""The tenant counters: concurrency slots and the daily usage roll-ups. Their only owner.

Every writer (dispatch create and finish, the recovery sweep, the backfill of the control
plane's records) takes these as named transaction actions and puts them in its own
transaction, so a counter moves in the same write as the thing it counts.

- Concurrency: `currentUsage.concurrentJobs` on the tenant item (the attribute the control
  plane also reads), plus one slot marker per dispatch holding a slot, in the `SLOTS`
  partition of the tenants table (`sk = "<tenant id>#<dispatch id>"`). Taking a slot puts
  the marker; releasing deletes it on condition that it exists, in the same transaction as
  the decrement, so whoever releases first wins and every later attempt is a no-op.
- Daily usage: one `USAGE#YYYY-MM-DD` item per tenant and day, flat counters
  (`dispatches`, `agent_<name>`, `status_<status>`, and the cells of rollups.py), created by
  the first ADD, plus the across-tenants shards rollups.py describes.
"""

from datetime import date, datetime
from typing import Any

from outpost_admin.dynamo import Action, Conflict, call, from_item, iso, to_item, values
from outpost_admin.dynamo.paging import query_all
from outpost_admin.dynamo.tables import TENANTS

from . import rollups
from .domain import DailyUsage

TENANT_SK = "TENANT"
SLOTS_PARTITION = "SLOTS"


def tenant_key(tenant_id: str) -> dict[str, Any]:
    return to_item({"tenant_id": tenant_id, "sk": TENANT_SK})


def usage_sk(day: date) -> str:
    return f"USAGE#{day.isoformat()}"


def usage_key(tenant_id: str, day: date) -> dict[str, Any]:
    return to_item({"tenant_id": tenant_id, "sk": usage_sk(day)})


_usage_key = usage_key


def _marker_key(tenant_id: str, dispatch_id: str) -> dict[str, Any]:
    return to_item({"tenant_id": SLOTS_PARTITION, "sk": f"{tenant_id}#{dispatch_id}"})


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


def release_slot(tenant_id: str, dispatch_id: str) -> list[Action]:
    """Give the slot back, once: "slot_marker_gone" fails if it was already given back,
    "slot_release" if the counter is already zero (then release with the marker alone)."""
    marker = {
        "TableName": TENANTS.name,
        "Key": _marker_key(tenant_id, dispatch_id),
        "ConditionExpression": "attribute_exists(sk)",
    }
    return [("slot_marker_gone", {"Delete": marker}), _decrement(tenant_id)]


def release_marker_only(tenant_id: str, dispatch_id: str) -> list[Action]:
    """The release when the counter already reads zero: never drive it negative."""
    return release_slot(tenant_id, dispatch_id)[:1]


def _decrement(tenant_id: str) -> Action:
    update = {
        "TableName": TENANTS.name,
        "Key": tenant_key(tenant_id),
        "UpdateExpression": "SET currentUsage.concurrentJobs = currentUsage.concurrentJobs - :one",
        "ConditionExpression": "currentUsage.concurrentJobs > :zero",
        "ExpressionAttributeValues": values({":one": 1, ":zero": 0}),
    }
    return "slot_release", {"Update": update}


def held_slots(*, tenant_id: str | None = None) -> list[tuple[str, str]]:
    """(tenant id, dispatch id) of every slot marker, or one tenant's: one Query, read
    consistently so a release that just committed is not seen again."""
    condition = "tenant_id = :p"
    vals: dict[str, Any] = {":p": SLOTS_PARTITION}
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
    return [(d["tenantId"], d["dispatchId"]) for d in map(from_item, items)]


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


def count_rejection(
    tenant_id: str, day: date, *, limit: str, agent: str, key_id: str
) -> list[Action]:
    """A create refused by a limit (its own small transaction, on the refused path only)."""
    tenant_day, shard = rollups.on_reject(
        TENANTS.name,
        tenant_key=_usage_key(tenant_id, day),
        tenant_id=tenant_id,
        limit=limit,
        agent=agent,
        key_id=key_id,
        day=day,
    )
    return [("day_rejection", tenant_day), ("day_shard_rejection", shard)]


def usage_from_item(day: date, data: dict[str, Any]) -> DailyUsage:
    return DailyUsage(
        day=day,
        dispatches=int(data.get("dispatches", 0)),
        by_agent={k[6:]: int(v) for k, v in data.items() if k.startswith("agent_")},
        by_status={k[7:]: int(v) for k, v in data.items() if k.startswith("status_")},
    )


def usage_get(tenant_id: str, day: date) -> DailyUsage:
    response = call("get_item", TableName=TENANTS.name, Key=_usage_key(tenant_id, day))
    return usage_from_item(day, from_item(response.get("Item", {})))
