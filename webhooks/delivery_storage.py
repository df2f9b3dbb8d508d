"""Deliveries and their attempts, in the webhooks table under the tenant.

- delivery `sk = DELIVERY#<endpoint id>#<event id>` (`callback` for a dispatch's own
  callbackUrl): the event's body (the same bytes for every attempt), status, counts, last
  outcome; while pending it is in `webhook-due-index` (`due_shard` = the tenant's shard,
  `due_at` = when it is next due). Claiming it moves `due_at` a lease ahead (one conditional
  UpdateItem): a worker that dies mid-delivery leaves it due again when the lease ends.
- attempt `sk = ATTEMPT#<endpoint id>#<event id>#<nnnn>`: time, status code, latency,
  response excerpt (≤ 1 KB), error. Written with the delivery's update, one transaction.

Everything expires 30 days after it was written (`expires_at`, TTL).
"""

import contextlib
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from ulid import ULID

from dispatches import outbox
from outpost_admin.dynamo import (
    Action,
    Conflict,
    NotFound,
    Page,
    TransactionConflict,
    call,
    from_item,
    iso,
    parse_iso,
    to_item,
    transact,
    values,
)
from outpost_admin.dynamo.paging import query_all, query_page
from outpost_admin.dynamo.tables import WEBHOOKS

from .domain import Attempt, Delivery, DeliveryStatus

DELIVERY = "DELIVERY#"
ATTEMPT = "ATTEMPT#"
RETENTION = timedelta(days=30)


def _lease() -> timedelta:
    """How long a claimed delivery stays taken: well over the 15 s timeout, so a live worker
    records its outcome first; a dead one's delivery is due again after it."""
    return timedelta(seconds=settings.OUTPOST_WEBHOOK_LEASE_SECONDS)


_LISTED = (
    "endpoint_id, event_id, #type, dispatch_id, #status, created_at, attempts, round_attempts, "
    "next_attempt_at, last_status_code, last_error, last_attempt_at, tenant_id, sk"
)


def _sk(endpoint_id: str, event_id: str) -> str:
    return f"{DELIVERY}{endpoint_id}#{event_id}"


def _key(tenant_id: str, endpoint_id: str, event_id: str) -> dict[str, Any]:
    return to_item({"tenant_id": tenant_id, "sk": _sk(endpoint_id, event_id)})


def _to_item(d: Delivery, now: datetime) -> dict[str, Any]:
    return to_item(
        {
            "tenant_id": d.tenant_id,
            "sk": _sk(d.endpoint_id, d.event_id),
            "kind": "delivery",
            "endpoint_id": d.endpoint_id,
            "event_id": d.event_id,
            "type": d.event_type,
            "dispatch_id": d.dispatch_id or None,
            "status": str(d.status),
            "created_at": iso(d.created_at),
            "attempts": d.attempts,
            "round_attempts": d.round_attempts,
            "next_attempt_at": iso(now),
            "url": d.url or None,
            "body": d.body,
            "due_shard": outbox.shard_of(d.tenant_id),
            "due_at": outbox.due_key(now),
            "expires_at": int((now + RETENTION).timestamp()),
        }
    )


def delivery_from(data: dict[str, Any]) -> Delivery:
    code = data.get("last_status_code")
    return Delivery(
        tenant_id=data["tenant_id"],
        endpoint_id=data["endpoint_id"],
        event_id=data["event_id"],
        event_type=data.get("type", ""),
        dispatch_id=data.get("dispatch_id", ""),
        status=DeliveryStatus(data.get("status", "pending")),
        created_at=parse_iso(data.get("created_at")),  # type: ignore[arg-type]
        attempts=int(data.get("attempts", 0)),
        round_attempts=int(data.get("round_attempts", 0)),
        next_attempt_at=parse_iso(data.get("next_attempt_at"))
        if data.get("status") == "pending"
        else None,
        last_status_code=int(code) if code is not None else None,
        last_error=data.get("last_error", ""),
        last_attempt_at=parse_iso(data.get("last_attempt_at")),
        url=data.get("url", ""),
        body=data.get("body", ""),
    )


def delivery_put(delivery: Delivery, *, now: datetime) -> Action:
    """A new delivery, due now (once per endpoint and event: the fan-out's transaction)."""
    put = {
        "TableName": WEBHOOKS.name,
        "Item": _to_item(delivery, now),
        "ConditionExpression": "attribute_not_exists(sk)",
    }
    return f"delivery:{delivery.endpoint_id}", {"Put": put}


# --- the due index ----------------------------------------------------------------------


def due(shard: str, *, now: datetime, limit: int = 25) -> list[dict[str, Any]]:
    """What is due in one shard, oldest first: events to fan out, deliveries to attempt."""
    response = call(
        "query",
        TableName=WEBHOOKS.name,
        IndexName=outbox.DUE_INDEX,
        KeyConditionExpression="due_shard = :s AND due_at <= :now",
        ExpressionAttributeValues=values({":s": shard, ":now": outbox.due_key(now)}),
        Limit=limit,
    )
    return [from_item(i) for i in response.get("Items", [])]


def delivery_claim(item: dict[str, Any], *, now: datetime) -> Delivery | None:
    """Take a due delivery for one attempt: its `due_at` moves a lease ahead, so no other
    worker takes it meanwhile and, if this one dies, it is due again when the lease ends.
    None if another worker was first."""
    try:
        response = call(
            "update_item",
            TableName=WEBHOOKS.name,
            Key=to_item({"tenant_id": item["tenant_id"], "sk": item["sk"]}),
            UpdateExpression="SET due_at = :lease",
            ConditionExpression="due_at = :seen AND #status = :pending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values(
                {
                    ":lease": outbox.due_key(now + _lease()),
                    ":seen": item["due_at"],
                    ":pending": str(DeliveryStatus.PENDING),
                }
            ),
            ReturnValues="ALL_NEW",
        )
    except Conflict:
        return None
    data = from_item(response["Attributes"])
    delivery = delivery_from(data)
    return delivery if data.get("due_at") else None


def lease_of(now: datetime) -> str:
    return outbox.due_key(now + _lease())


def attempt_record(
    delivery: Delivery,
    attempt: Attempt,
    *,
    lease: str,
    next_at: datetime | None,
    now: datetime,
) -> bool:
    """The attempt and the delivery's new state, together; only while this worker's lease
    holds. `next_at`: due again then; None: delivered (attempt.ok) or given up. False if the
    lease was lost (another worker took the delivery over)."""
    sets = {
        ":one": 1,
        ":code": attempt.status_code,
        ":error": attempt.error or None,
        ":at": iso(attempt.at),
        ":lease": lease,
    }
    expression = (
        "SET last_status_code = :code, last_error = :error, last_attempt_at = :at, "
        "#status = :status ADD attempts :one, round_attempts :one"
    )
    if next_at is not None:
        sets[":status"] = str(DeliveryStatus.PENDING)
        sets[":due"] = outbox.due_key(next_at)
        expression = expression.replace(
            "#status = :status", "#status = :status, due_at = :due, next_attempt_at = :due"
        )
    else:
        sets[":status"] = str(DeliveryStatus.DELIVERED if attempt.ok else DeliveryStatus.FAILED)
        expression += " REMOVE due_shard, due_at, next_attempt_at"
    update = {
        "TableName": WEBHOOKS.name,
        "Key": _key(delivery.tenant_id, delivery.endpoint_id, delivery.event_id),
        "UpdateExpression": expression,
        "ConditionExpression": "due_at = :lease",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values(sets),
    }
    try:
        transact([("delivery", {"Update": update}), _attempt_put(delivery, attempt, now)])
    except TransactionConflict as exc:
        if exc.failed("delivery"):
            return False
        raise
    return True


def _attempt_put(delivery: Delivery, attempt: Attempt, now: datetime) -> Action:
    item = {
        "tenant_id": delivery.tenant_id,
        "sk": f"{ATTEMPT}{delivery.endpoint_id}#{delivery.event_id}#{attempt.number:04d}",
        "kind": "attempt",
        "at": iso(attempt.at),
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "ok": attempt.ok,
        "error": attempt.error or None,
        "excerpt": attempt.excerpt or None,
        "expires_at": int((now + RETENTION).timestamp()),
    }
    return "attempt", {"Put": {"TableName": WEBHOOKS.name, "Item": to_item(item)}}


def delivery_give_up(delivery: Delivery, *, lease: str, reason: str, now: datetime) -> None:
    """A claimed delivery that cannot be sent (its endpoint disabled or deleted): failed,
    out of the due index, the reason kept; no attempt is counted."""
    with contextlib.suppress(Conflict):
        call(
            "update_item",
            TableName=WEBHOOKS.name,
            Key=_key(delivery.tenant_id, delivery.endpoint_id, delivery.event_id),
            UpdateExpression="SET #status = :failed, last_error = :r, last_attempt_at = :now "
            "REMOVE due_shard, due_at, next_attempt_at",
            ConditionExpression="due_at = :lease",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values(
                {
                    ":failed": str(DeliveryStatus.FAILED),
                    ":r": reason,
                    ":now": iso(now),
                    ":lease": lease,
                }
            ),
        )


def delivery_requeue(
    tenant_id: str, endpoint_id: str, event_id: str, *, now: datetime, only_failed: bool
) -> bool:
    """Due again now with a fresh schedule (resend; recover). False if it is not there (or,
    `only_failed`, not failed)."""
    condition = "attribute_exists(sk)" + (" AND #status = :failed" if only_failed else "")
    vals: dict[str, Any] = {
        ":pending": str(DeliveryStatus.PENDING),
        ":zero": 0,
        ":shard": outbox.shard_of(tenant_id),
        ":now": outbox.due_key(now),
    }
    if only_failed:
        vals[":failed"] = str(DeliveryStatus.FAILED)
    try:
        call(
            "update_item",
            TableName=WEBHOOKS.name,
            Key=_key(tenant_id, endpoint_id, event_id),
            UpdateExpression="SET #status = :pending, round_attempts = :zero, "
            "due_shard = :shard, due_at = :now, next_attempt_at = :now",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values(vals),
        )
    except Conflict:
        return False
    return True


# --- reads ------------------------------------------------------------------------------


def delivery_list(
    *, tenant_id: str, endpoint_id: str, cursor: str | None, limit: int
) -> Page[Delivery]:
    """An endpoint's deliveries, newest event first (event ids are ULIDs): one Query a page."""
    params = {
        "TableName": WEBHOOKS.name,
        "KeyConditionExpression": "tenant_id = :t AND begins_with(sk, :p)",
        "ExpressionAttributeValues": values({":t": tenant_id, ":p": f"{DELIVERY}{endpoint_id}#"}),
        "ExpressionAttributeNames": {"#type": "type", "#status": "status"},
        "ProjectionExpression": _LISTED,
        "ScanIndexForward": False,
    }
    items, next_cursor = query_page(
        params,
        limit=limit,
        cursor=cursor,
        scope=f"deliveries:{tenant_id}:{endpoint_id}",
        key_names=("tenant_id", "sk"),
    )
    return Page([delivery_from(from_item(i)) for i in items], next_cursor)


def delivery_get(*, tenant_id: str, endpoint_id: str, event_id: str) -> Delivery:
    item = call(
        "get_item",
        TableName=WEBHOOKS.name,
        Key=_key(tenant_id, endpoint_id, event_id),
        ConsistentRead=True,
    ).get("Item")
    if not item:
        raise NotFound(f"delivery {event_id}")
    return delivery_from(from_item(item))


def attempt_list(*, tenant_id: str, endpoint_id: str, event_id: str) -> list[Attempt]:
    params = {
        "TableName": WEBHOOKS.name,
        "KeyConditionExpression": "tenant_id = :t AND begins_with(sk, :p)",
        "ExpressionAttributeValues": values(
            {":t": tenant_id, ":p": f"{ATTEMPT}{endpoint_id}#{event_id}#"}
        ),
    }
    attempts = []
    for item in query_all(params):
        data = from_item(item)
        code = data.get("status_code")
        attempts.append(
            Attempt(
                number=int(data["sk"].rsplit("#", 1)[1]),
                at=parse_iso(data["at"]),  # type: ignore[arg-type]
                status_code=int(code) if code is not None else None,
                latency_ms=int(data.get("latency_ms", 0)),
                ok=bool(data.get("ok")),
                error=data.get("error", ""),
                excerpt=data.get("excerpt", ""),
            )
        )
    return attempts


def failed_since(*, tenant_id: str, endpoint_id: str, since: datetime) -> list[str]:
    """Event ids of the endpoint's failed deliveries of events since then (ULID order)."""
    # No event is older than 1970 (a ULID's time cannot be either): earlier means all of them.
    first = "msg_" + str(ULID.from_timestamp(max(since.timestamp(), 0)))[:10] + "0" * 16
    prefix = f"{DELIVERY}{endpoint_id}#"
    params = {
        "TableName": WEBHOOKS.name,
        "KeyConditionExpression": "tenant_id = :t AND sk BETWEEN :from AND :to",
        "FilterExpression": "#status = :failed",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values(
            {
                ":t": tenant_id,
                ":from": prefix + first,
                ":to": prefix + "msg_~",
                ":failed": str(DeliveryStatus.FAILED),
            }
        ),
        "ProjectionExpression": "event_id",
    }
    return [from_item(i)["event_id"] for i in query_all(params)]
