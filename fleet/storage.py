"""Pool items: one per agent type a worker slot serves, keyed by agent_type + task_arn.

Never scanned: the pool is read one agent type at a time (a Query each), as the control
plane reads it.
"""

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from outpost_admin.agents import AGENTS
from outpost_admin.dynamo import Conflict, call, from_item, iso, parse_iso, to_item, values
from outpost_admin.dynamo.paging import query_all
from outpost_admin.dynamo.tables import POOL, TENANTS

from .domain import PoolItem, Slot, SlotStatus, local_worker_prefix

BATCH = 25  # BatchWriteItem's limit
INSTANCE_TYPE = "local"  # the control plane's items say "fargate"


def _to_item(slot: Slot, agent: str) -> dict[str, Any]:
    return to_item(
        {
            "agent_type": agent,
            "task_arn": slot.task_arn,
            "status": str(slot.status),
            "worker_id": slot.worker_id,
            "dispatch_id": slot.dispatch_id or None,
            "created_at": iso(slot.created_at),
            "last_used_at": iso(slot.last_used_at),
            "instance_type": INSTANCE_TYPE,
            "heartbeat": iso(slot.heartbeat),
            "ttl": slot.ttl,
            "host": slot.host or None,
            "pid": slot.pid or None,
            "executor": slot.executor or None,
            "worker_started_at": iso(slot.worker_started_at) if slot.worker_started_at else None,
        }
    )


def _item_from(item: dict[str, Any]) -> PoolItem:
    data = from_item(item)
    return PoolItem(
        agent_type=data["agent_type"],
        task_arn=data["task_arn"],
        status=str(data.get("status", SlotStatus.IDLE)),
        worker_id=data.get("worker_id", ""),
        heartbeat=parse_iso(data.get("heartbeat")),
        dispatch_id=data.get("dispatch_id", ""),
        created_at=parse_iso(data.get("created_at")),
        last_used_at=parse_iso(data.get("last_used_at")),
        host=data.get("host", ""),
        pid=int(data.get("pid", 0)),
        executor=data.get("executor", ""),
        worker_started_at=parse_iso(data.get("worker_started_at")),
    )


def _slots_from(items: list[dict[str, Any]]) -> list[Slot]:
    """Our items grouped back into slots (one per task_arn)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for data in map(from_item, items):
        grouped.setdefault(data["task_arn"], []).append(data)
    slots = []
    for arn, group in sorted(grouped.items()):
        data = group[0]
        created = parse_iso(data.get("created_at")) or datetime.min
        slots.append(
            Slot(
                agent_types=tuple(sorted(d["agent_type"] for d in group)),
                task_arn=arn,
                status=SlotStatus(data.get("status", SlotStatus.IDLE)),
                worker_id=data.get("worker_id", ""),
                created_at=created,
                last_used_at=parse_iso(data.get("last_used_at")) or created,
                heartbeat=parse_iso(data.get("heartbeat")) or created,
                ttl=int(data.get("ttl", 0)),
                dispatch_id=data.get("dispatch_id", ""),
                host=data.get("host", ""),
                pid=int(data.get("pid", 0)),
                executor=data.get("executor", ""),
                worker_started_at=parse_iso(data.get("worker_started_at")),
            )
        )
    return slots


def _batch_write(requests: list[dict[str, Any]]) -> None:
    for start in range(0, len(requests), BATCH):
        pending = {POOL.name: requests[start : start + BATCH]}
        while pending:
            response = call("batch_write_item", RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}


def slots_save(slots: list[Slot]) -> None:
    """Write the slots' whole state (their heartbeat too); only the owning worker writes them.

    One BatchWriteItem per 25 items, so a heartbeat costs one call for a few slots, and an
    item that TTL removed meanwhile is simply written again.
    """
    _batch_write(
        [{"PutRequest": {"Item": _to_item(s, agent)}} for s in slots for agent in s.agent_types]
    )


def slot_delete(slot: Slot) -> None:
    keys = [to_item({"agent_type": a, "task_arn": slot.task_arn}) for a in slot.agent_types]
    _batch_write([{"DeleteRequest": {"Key": key}} for key in keys])


def items_for_agent(agent_type: str) -> list[PoolItem]:
    """Every item of one agent type: ours and the control plane's."""
    params = {
        "TableName": POOL.name,
        "KeyConditionExpression": "agent_type = :a",
        "ExpressionAttributeValues": values({":a": agent_type}),
    }
    return [_item_from(i) for i in query_all(params)]


def _worker_items(worker_id: str, agent_type: str) -> Iterator[dict[str, Any]]:
    return query_all(
        {
            "TableName": POOL.name,
            "KeyConditionExpression": "agent_type = :a AND begins_with(task_arn, :prefix)",
            "ExpressionAttributeValues": values(
                {":a": agent_type, ":prefix": local_worker_prefix(worker_id)}
            ),
            "ConsistentRead": True,
        }
    )


def slots_for_worker(worker_id: str) -> list[Slot]:
    """The slots of one of our workers: a key-prefix Query per agent type, never a Scan."""
    return _slots_from([i for agent in AGENTS for i in _worker_items(worker_id, agent)])


# --- the recovery lease: one worker at a time runs recovery ------------------------------


def _lease_key(name: str) -> dict[str, Any]:
    return to_item({"tenant_id": f"LEASE#{name}", "sk": "LEASE"})


def lease_acquire(name: str, *, holder: str, now: datetime, seconds: int) -> dict[str, Any] | None:
    """Hold the lease `name` for `seconds` if it is free, expired or already ours.

    Returns what the holder left on it (its checkpoints), or None if another holds it.
    """
    try:
        response = call(
            "update_item",
            TableName=TENANTS.name,
            Key=_lease_key(name),
            UpdateExpression="SET holder = :me, expiresAt = :until",
            ConditionExpression="attribute_not_exists(holder) OR holder = :me OR expiresAt < :now",
            ExpressionAttributeValues=values(
                {
                    ":me": holder,
                    ":until": int((now + timedelta(seconds=seconds)).timestamp() * 1000),
                    ":now": int(now.timestamp() * 1000),
                }
            ),
            ReturnValues="ALL_NEW",
        )
    except Conflict:
        return None
    return dict(from_item(response["Attributes"]).get("state", {}))


def lease_save(name: str, *, holder: str, state: dict[str, Any]) -> bool:
    """Keep the holder's checkpoints on the lease, if it still holds it."""
    try:
        call(
            "update_item",
            TableName=TENANTS.name,
            Key=_lease_key(name),
            UpdateExpression="SET #state = :state",
            ConditionExpression="holder = :me",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=values({":state": state, ":me": holder}),
        )
    except Conflict:
        return False
    return True


def lease_release(name: str, *, holder: str) -> None:
    """Let the next worker take the lease at once (its checkpoints stay on it)."""
    with contextlib.suppress(Conflict):  # held by another meanwhile: nothing to hand on
        call(
            "update_item",
            TableName=TENANTS.name,
            Key=_lease_key(name),
            UpdateExpression="SET expiresAt = :zero",
            ConditionExpression="holder = :me",
            ExpressionAttributeValues=values({":zero": 0, ":me": holder}),
        )
