"""The dispatch lifecycle's outbox: the webhook events its state changes cause, recorded in the
same write as the change (issue 15). The webhooks app delivers them; this module owns the
items and indexes the lifecycle writes, and hands the webhooks app what consumes them.

- A terminal write (finish, cancel, recovery's FAILED) is one TransactWriteItems: it gains
  one small Put, the event item `tenant_id = <tenant>`, `sk = EVENT#<event id>` in the
  webhooks table, due at once (`due_shard`, `due_at` on `webhook-due-index`).
- A claim is one UpdateItem and stays one: it records its `dispatch.started` event on the
  dispatch itself (`hook_event`, `hook_shard`, `hook_due`), which puts the dispatch in the
  sparse `webhook-outbox-index` until the delivery workers fan the event out and REMOVE the
  three attributes (`started_consumed`). A dispatch queued again and claimed anew before
  that overwrites the first run's event with its own: one started event per run at most.

Event ids are ULIDs (`msg_<ulid>`): time-ordered, and the `webhook-id` of every attempt.
Both indexes are write-sharded by tenant (`shard_of`), so a delivery worker reads the due
work of a shard at a time, from a random shard, as claimers read the claim queue.
"""

import random
import secrets
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ulid import ULID

from outpost_admin.dynamo import Action, call, from_item, iso, parse_iso, to_item, values
from outpost_admin.dynamo.tables import DISPATCHES, WEBHOOKS

from .domain import DispatchStatus

SHARDS = 16
EVENT = "EVENT#"
RETENTION = timedelta(days=30)
OUTBOX_INDEX = "webhook-outbox-index"
DUE_INDEX = "webhook-due-index"

EVENT_TYPES = {
    DispatchStatus.RUNNING: "dispatch.started",
    DispatchStatus.COMPLETED: "dispatch.succeeded",
    DispatchStatus.FAILED: "dispatch.failed",
    DispatchStatus.CANCELLED: "dispatch.cancelled",
    DispatchStatus.TIMEOUT: "dispatch.timed_out",
}


def new_event_id() -> str:
    """`msg_<ULID>`, all 80 random bits from the CSPRNG (sortable by time, not guessable)."""
    millis = time.time_ns() // 1_000_000
    return "msg_" + str(ULID.from_bytes(millis.to_bytes(6, "big") + secrets.token_bytes(10)))


def shard_of(tenant_id: str) -> str:
    return str(zlib.crc32(tenant_id.encode()) % SHARDS)


def shard_order() -> list[str]:
    """Every shard once, from a random one on."""
    start = random.randrange(SHARDS)  # noqa: S311 - spreading load, not a secret
    return [str((start + i) % SHARDS) for i in range(SHARDS)]


def due_key(when: datetime) -> str:
    """The due index's sort key: an ISO time, so string order is time order."""
    return iso(when)


# --- what the lifecycle writes -----------------------------------------------------------


def event_put(*, tenant_id: str, dispatch_id: str, status: DispatchStatus, now: datetime) -> Action:
    """The terminal event, for the terminal write's own transaction (~250 B)."""
    event_id = new_event_id()
    item = {
        "tenant_id": tenant_id,
        "sk": f"{EVENT}{event_id}",
        "kind": "event",
        "event_id": event_id,
        "type": EVENT_TYPES[status],
        "dispatch_id": dispatch_id,
        "occurred_at": iso(now),
        "due_shard": shard_of(tenant_id),
        "due_at": due_key(now),
        "expires_at": int((now + RETENTION).timestamp()),
    }
    put = {
        "TableName": WEBHOOKS.name,
        "Item": to_item(item),
        "ConditionExpression": "attribute_not_exists(sk)",
    }
    return "outbox", {"Put": put}


def started_marker(tenant_id: str, now: datetime) -> tuple[str, dict[str, Any]]:
    """The claim's SET clause and its values: the started event rides on the dispatch."""
    return (
        "hook_event = :hook_event, hook_shard = :hook_shard, hook_due = :hook_due",
        {
            ":hook_event": new_event_id(),
            ":hook_shard": shard_of(tenant_id),
            ":hook_due": due_key(now),
        },
    )


# --- what the delivery workers read and consume --------------------------------------------


@dataclass(frozen=True)
class Pending:
    """An outbox entry to fan out: a terminal event item, or a claim's started marker."""

    tenant_id: str
    event_id: str
    dispatch_id: str
    type: str
    occurred_at: datetime
    started: bool  # a claim's marker on the dispatch item


def started_due(shard: str, *, now: datetime, limit: int = 25) -> list[Pending]:
    """Claims whose started event is not fanned out yet, oldest first (one Query)."""
    response = call(
        "query",
        TableName=DISPATCHES.name,
        IndexName=OUTBOX_INDEX,
        KeyConditionExpression="hook_shard = :s AND hook_due <= :now",
        ExpressionAttributeValues=values({":s": shard, ":now": due_key(now)}),
        Limit=limit,
    )
    found = []
    for item in response.get("Items", []):
        data = from_item(item)
        found.append(
            Pending(
                tenant_id=data.get("user_id", ""),
                event_id=data["hook_event"],
                dispatch_id=data["dispatch_id"],
                type=EVENT_TYPES[DispatchStatus.RUNNING],
                occurred_at=parse_iso(data.get("hook_due")) or now,
                started=True,
            )
        )
    return found


def event_from_item(data: dict[str, Any]) -> Pending:
    return Pending(
        tenant_id=data["tenant_id"],
        event_id=data["event_id"],
        dispatch_id=data.get("dispatch_id", ""),
        type=data.get("type", ""),
        occurred_at=parse_iso(data.get("occurred_at")) or parse_iso(data.get("due_at")),  # type: ignore[arg-type]
        started=False,
    )


def consumed(pending: Pending) -> Action:
    """The action that takes an outbox entry out of its index, for the fan-out's transaction;
    its condition makes a second fan-out of the same entry fail instead of doubling it."""
    if pending.started:
        update = {
            "TableName": DISPATCHES.name,
            "Key": to_item({"dispatch_id": pending.dispatch_id}),
            "UpdateExpression": "REMOVE hook_event, hook_shard, hook_due",
            "ConditionExpression": "hook_event = :e",
            "ExpressionAttributeValues": values({":e": pending.event_id}),
        }
    else:
        update = {
            "TableName": WEBHOOKS.name,
            "Key": to_item({"tenant_id": pending.tenant_id, "sk": f"{EVENT}{pending.event_id}"}),
            "UpdateExpression": "REMOVE due_shard, due_at",
            "ConditionExpression": "attribute_exists(due_at)",
        }
    return "consumed", {"Update": update}
