"""Pool items: one per worker slot, keyed by agent_type + task_arn. Never scanned."""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from outpost_admin.dynamo import Conflict, call, from_item, iso, parse_iso, to_item, values
from outpost_admin.dynamo.paging import query_all
from outpost_admin.dynamo.tables import POOL

from .domain import ANY_AGENT, Slot, SlotStatus, local_worker_prefix


def _to_item(slot: Slot) -> dict[str, Any]:
    return to_item(
        {
            "agent_type": slot.agent_type,
            "task_arn": slot.task_arn,
            "status": str(slot.status),
            "worker_id": slot.worker_id,
            "dispatch_id": slot.dispatch_id or None,
            "created_at": iso(slot.created_at),
            "last_used_at": iso(slot.last_used_at),
            "heartbeat": iso(slot.heartbeat),
            "ttl": slot.ttl,
        }
    )


def _from_item(item: dict[str, Any]) -> Slot:
    data = from_item(item)
    created = parse_iso(data.get("created_at")) or datetime.min
    return Slot(
        agent_type=data["agent_type"],
        task_arn=data["task_arn"],
        status=SlotStatus(data.get("status", SlotStatus.IDLE)),
        worker_id=data.get("worker_id", ""),
        created_at=created,
        last_used_at=parse_iso(data.get("last_used_at")) or created,
        heartbeat=parse_iso(data.get("heartbeat")) or created,
        ttl=int(data.get("ttl", 0)),
        dispatch_id=data.get("dispatch_id", ""),
    )


def _key(slot: Slot) -> dict[str, Any]:
    return to_item({"agent_type": slot.agent_type, "task_arn": slot.task_arn})


def slot_save(slot: Slot) -> None:
    """Write the slot's whole state; only the worker that owns a slot writes it."""
    call("put_item", TableName=POOL.name, Item=_to_item(slot))


def slot_heartbeat(slot: Slot, *, now: datetime, ttl: int) -> bool:
    """Refresh heartbeat and ttl only (status is the owner's business); False if the item is gone."""
    try:
        call(
            "update_item",
            TableName=POOL.name,
            Key=_key(slot),
            UpdateExpression="SET heartbeat = :now, #ttl = :ttl",
            ConditionExpression="attribute_exists(task_arn)",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues=values({":now": iso(now), ":ttl": ttl}),
        )
    except Conflict:
        return False
    return True


def slot_delete(slot: Slot) -> None:
    call("delete_item", TableName=POOL.name, Key=_key(slot))


def _query(params: dict[str, Any]) -> Iterator[Slot]:
    return (_from_item(i) for i in query_all({"TableName": POOL.name, **params}))


def slots_for_agent(agent_type: str) -> list[Slot]:
    """Every slot serving one agent type ("*" for slots that serve all of them)."""
    return list(
        _query(
            {
                "KeyConditionExpression": "agent_type = :a",
                "ExpressionAttributeValues": values({":a": agent_type}),
            }
        )
    )


def slots_for_worker(worker_id: str) -> list[Slot]:
    """The slots of one local worker: a key-prefix Query, not a Scan."""
    return list(
        _query(
            {
                "KeyConditionExpression": "agent_type = :a AND begins_with(task_arn, :prefix)",
                "ExpressionAttributeValues": values(
                    {":a": ANY_AGENT, ":prefix": local_worker_prefix(worker_id)}
                ),
                "ConsistentRead": True,
            }
        )
    )
