"""Pool items: one per agent type a worker slot serves, keyed by agent_type + task_arn.

Never scanned: the pool is read one agent type at a time (a Query each), as the control
plane reads it.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from outpost_admin.agents import AGENTS
from outpost_admin.dynamo import call, from_item, iso, parse_iso, to_item, values
from outpost_admin.dynamo.paging import query_all
from outpost_admin.dynamo.tables import POOL

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
