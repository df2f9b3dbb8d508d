"""Dispatches, their logs, idempotency records and the quota counters they move."""

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from fleet import rollups
from outpost_admin.dynamo import (
    Conflict,
    Page,
    TransactionConflict,
    call,
    from_item,
    iso,
    parse_iso,
    to_item,
    transact_write,
    utcnow,
    values,
)
from outpost_admin.dynamo.paging import query_all, query_page
from outpost_admin.dynamo.tables import DISPATCH_LOGS, DISPATCHES, IDEMPOTENCY, TENANTS
from tenants.domain import AuditEvent
from tenants.storage import NotFound as NotFound
from tenants.storage import audit_put, tenant_key, usage_sk

from .domain import (
    Dispatch,
    DispatchStatus,
    IdempotencyInFlight,
    IdempotencyMismatch,
    InvalidTransition,
    LogChunk,
    QuotaExceeded,
    TenantNotActive,
)

IDEMPOTENCY_TTL = timedelta(hours=24)
ACTIVE = (DispatchStatus.PENDING, DispatchStatus.RUNNING)


def _to_item(d: Dispatch) -> dict[str, Any]:
    return to_item(
        {
            "dispatch_id": d.dispatch_id,
            "user_id": d.tenant_id,
            "agent": d.agent,
            "model_id": d.model_id,
            "task": d.task,
            "status": str(d.status),
            "started_at": iso(d.started_at),
            "started_day": iso(d.started_at)[:10],
            "version": d.version,
            "repo": d.repo or None,
            "branch": d.branch or None,
            "timeout_seconds": d.timeout_seconds,
            "api_key_id": d.api_key_id or None,
            "idempotency_key": d.idempotency_key or None,
            "tags": list(d.tags) or None,
            "ended_at": iso(d.ended_at) if d.ended_at else None,
            "claimed_at": iso(d.claimed_at) if d.claimed_at else None,
            "worker_id": d.worker_id or None,
            "exit_code": d.exit_code,
            "error_message": d.error_message or None,
            "status_reason": d.status_reason or None,
            "expires_at": d.expires_at,
        }
    )


def _from_item(item: dict[str, Any]) -> Dispatch:
    data = from_item(item)
    return Dispatch(
        dispatch_id=data["dispatch_id"],
        tenant_id=data.get("user_id", ""),
        agent=data.get("agent", ""),
        model_id=data.get("model_id", ""),
        task=data.get("task", ""),
        status=DispatchStatus(data.get("status", "PENDING").upper()),
        started_at=parse_iso(data.get("started_at")) or datetime.min,
        version=int(data.get("version", 1)),
        repo=data.get("repo", ""),
        branch=data.get("branch", ""),
        timeout_seconds=int(data.get("timeout_seconds", 600)),
        api_key_id=data.get("api_key_id", ""),
        idempotency_key=data.get("idempotency_key", ""),
        tags=tuple(data.get("tags", ())),
        ended_at=parse_iso(data.get("ended_at")),
        claimed_at=parse_iso(data.get("claimed_at")),
        worker_id=data.get("worker_id", ""),
        exit_code=data.get("exit_code"),
        error_message=data.get("error_message", ""),
        status_reason=data.get("status_reason", ""),
        expires_at=int(data.get("expires_at", 0)),
    )


def _key(dispatch_id: str) -> dict[str, Any]:
    return to_item({"dispatch_id": dispatch_id})


def dispatch_get(dispatch_id: str) -> Dispatch:
    response = call(
        "get_item", TableName=DISPATCHES.name, Key=_key(dispatch_id), ConsistentRead=True
    )
    if "Item" not in response:
        raise NotFound(f"dispatch {dispatch_id}")
    return _from_item(response["Item"])


# --- creating: one transaction for the dispatch, the quota counters, idempotency, audit ----


def _idempotency_key(tenant_id: str, key: str) -> str:
    return f"{tenant_id}#{key}"


def dispatch_create(
    dispatch: Dispatch,
    *,
    max_per_day: int,
    event: AuditEvent,
    request_hash: str = "",
    response: dict[str, Any] | None = None,
) -> None:
    """Write the dispatch, take a concurrency slot and a daily count, all or nothing.

    With an idempotency key the stored response goes in the same transaction, so a replay
    can never see a dispatch without its record or the other way round.
    """
    now = dispatch.started_at
    actions = [
        {
            "Put": {
                "TableName": DISPATCHES.name,
                "Item": _to_item(dispatch),
                "ConditionExpression": "attribute_not_exists(dispatch_id)",
            }
        },
        {
            "Update": {
                "TableName": TENANTS.name,
                "Key": tenant_key(dispatch.tenant_id),
                "UpdateExpression": "SET currentUsage.concurrentJobs = currentUsage.concurrentJobs + :one",
                "ConditionExpression": "#status = :active AND "
                "currentUsage.concurrentJobs < usageLimits.maxConcurrentJobs",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": values({":one": 1, ":active": "active"}),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
        {
            "Update": {
                "TableName": TENANTS.name,
                "Key": to_item({"tenant_id": dispatch.tenant_id, "sk": usage_sk(now.date())}),
                "UpdateExpression": "ADD dispatches :one, #agent :one, #cell :one",
                "ConditionExpression": "attribute_not_exists(dispatches) OR dispatches < :max",
                "ExpressionAttributeNames": {
                    "#agent": f"agent_{dispatch.agent}",
                    "#cell": rollups.created_cell(dispatch.agent, dispatch.api_key_id),
                },
                "ExpressionAttributeValues": values({":one": 1, ":max": max_per_day}),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
        audit_put(event),
    ]
    if dispatch.idempotency_key:
        actions.append(_idempotency_put(dispatch, request_hash, response or {}))
    actions.append(
        rollups.on_create(
            TENANTS.name,
            tenant_id=dispatch.tenant_id,
            agent=dispatch.agent,
            key_id=dispatch.api_key_id,
            day=now.date(),
        )
    )
    try:
        transact_write(actions)
    except TransactionConflict as exc:
        _explain_create_failure(exc, dispatch, max_per_day, request_hash)
        raise


def _idempotency_put(
    dispatch: Dispatch, request_hash: str, response: dict[str, Any]
) -> dict[str, Any]:
    expires = dispatch.started_at + IDEMPOTENCY_TTL
    return {
        "Put": {
            "TableName": IDEMPOTENCY.name,
            "Item": to_item(
                {
                    "idempotency_key": _idempotency_key(
                        dispatch.tenant_id, dispatch.idempotency_key
                    ),
                    "dispatch_id": dispatch.dispatch_id,
                    "created_at": iso(dispatch.started_at),
                    "ttl": int(expires.timestamp()),
                    "request_hash": request_hash,
                    "response": json.dumps(response),
                }
            ),
            # An expired record that TTL has not deleted yet does not count.
            "ConditionExpression": "attribute_not_exists(idempotency_key) OR #ttl < :now",
            "ExpressionAttributeNames": {"#ttl": "ttl"},
            "ExpressionAttributeValues": values({":now": int(dispatch.started_at.timestamp())}),
        }
    }


def _explain_create_failure(
    exc: TransactionConflict, dispatch: Dispatch, max_per_day: int, request_hash: str
) -> None:
    reasons = exc.reasons
    if dispatch.idempotency_key and reasons[4].get("Code") in (
        "ConditionalCheckFailed",
        "TransactionConflict",
    ):
        raise idempotency_outcome(dispatch.tenant_id, dispatch.idempotency_key, request_hash)
    if exc.failed(1):
        tenant = from_item(reasons[1].get("Item", {}))
        if tenant.get("status") != "active":
            raise TenantNotActive(f"The tenant is {tenant.get('status', 'missing')}.")
        usage = tenant.get("currentUsage", {})
        raise QuotaExceeded(
            limit="concurrency",
            maximum=int(tenant.get("usageLimits", {}).get("maxConcurrentJobs", 0)),
            current=int(usage.get("concurrentJobs", 0)),
            resets_at=None,
        )
    if exc.failed(2):
        current = int(from_item(reasons[2].get("Item", {})).get("dispatches", 0))
        midnight = datetime.combine(
            dispatch.started_at.date() + timedelta(days=1), datetime.min.time()
        )
        raise QuotaExceeded(
            limit="daily",
            maximum=max_per_day,
            current=current,
            resets_at=midnight.replace(tzinfo=dispatch.started_at.tzinfo),
        )


class Replay(Exception):
    """The same key and body were seen before: answer with the stored response."""

    def __init__(self, response: dict[str, Any]):
        super().__init__("replay")
        self.response = response


def idempotency_outcome(tenant_id: str, key: str, request_hash: str) -> Exception:
    """What a request whose idempotency key is taken gets: a replay, a 422, or a 409."""
    response = call(
        "get_item",
        TableName=IDEMPOTENCY.name,
        Key=to_item({"idempotency_key": _idempotency_key(tenant_id, key)}),
        ConsistentRead=True,
    )
    record = from_item(response.get("Item", {}))
    if "response" not in record:  # its transaction has not committed yet
        return IdempotencyInFlight("A request with this idempotency key is still in progress.")
    if record.get("request_hash") != request_hash:
        return IdempotencyMismatch("This idempotency key was used with a different request body.")
    return Replay(json.loads(record.get("response", "{}")))


# --- state changes ------------------------------------------------------------------


def dispatch_claim(dispatch: Dispatch, *, worker_id: str, now: datetime) -> Dispatch | None:
    """PENDING -> RUNNING for this worker; None if someone else got there first."""
    try:
        response = call(
            "update_item",
            TableName=DISPATCHES.name,
            Key=_key(dispatch.dispatch_id),
            UpdateExpression="SET #status = :running, worker_id = :worker, claimed_at = :now, "
            "version = version + :one",
            ConditionExpression="#status = :pending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values(
                {
                    ":running": str(DispatchStatus.RUNNING),
                    ":pending": str(DispatchStatus.PENDING),
                    ":worker": worker_id,
                    ":now": iso(now),
                    ":one": 1,
                }
            ),
            ReturnValues="ALL_NEW",
        )
    except Conflict:
        return None
    return _from_item(response["Attributes"])


def dispatch_requeue(dispatch: Dispatch, *, reason: str) -> bool:
    """RUNNING -> PENDING (its worker is gone); the slot stays taken, as it was."""
    try:
        call(
            "update_item",
            TableName=DISPATCHES.name,
            Key=_key(dispatch.dispatch_id),
            UpdateExpression="SET #status = :pending, status_reason = :reason, version = version + :one "
            "REMOVE worker_id, claimed_at",
            ConditionExpression="#status = :running AND worker_id = :worker",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values(
                {
                    ":running": str(DispatchStatus.RUNNING),
                    ":pending": str(DispatchStatus.PENDING),
                    ":worker": dispatch.worker_id,
                    ":reason": reason,
                    ":one": 1,
                }
            ),
        )
    except Conflict:
        return False
    return True


def dispatch_finish(
    dispatch: Dispatch,
    *,
    status: DispatchStatus,
    now: datetime,
    exit_code: int | None = None,
    error_message: str = "",
    status_reason: str = "",
    event: AuditEvent | None = None,
) -> None:
    """Write a terminal status and give the concurrency slot back, together and exactly once.

    Raises InvalidTransition when the dispatch is already terminal: the slot was released then.
    """
    sets = {":status": str(status), ":ended": iso(now), ":one": 1}
    expression = "SET #status = :status, ended_at = :ended, version = version + :one"
    for attr, value in (
        ("exit_code", exit_code),
        ("error_message", error_message),
        ("status_reason", status_reason),
    ):
        if value not in (None, ""):
            expression += f", {attr} = :{attr}"
            sets[f":{attr}"] = value
    finish = {
        "Update": {
            "TableName": DISPATCHES.name,
            "Key": _key(dispatch.dispatch_id),
            "UpdateExpression": expression,
            "ConditionExpression": "#status IN (:pending, :running)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values(
                {
                    **sets,
                    ":pending": str(DispatchStatus.PENDING),
                    ":running": str(DispatchStatus.RUNNING),
                }
            ),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
    run_seconds = (now - dispatch.claimed_at).total_seconds() if dispatch.claimed_at else None
    cells = rollups.finish_cells(
        status=status.value,
        agent=dispatch.agent,
        key_id=dispatch.api_key_id,
        run_seconds=run_seconds,
        with_key=True,
    )
    count = rollups.add_action(
        TENANTS.name,
        to_item({"tenant_id": dispatch.tenant_id, "sk": usage_sk(dispatch.started_at.date())}),
        [f"status_{status.value.lower()}", *cells],
    )
    extra = [audit_put(event)] if event else []
    extra += rollups.on_finish(
        TENANTS.name,
        tenant_id=dispatch.tenant_id,
        dispatch_id=dispatch.dispatch_id,
        agent=dispatch.agent,
        status=status.value,
        created_day=dispatch.started_at.date(),
        run_seconds=run_seconds,
        now=now,
    )
    try:
        transact_write([finish, _release(dispatch.tenant_id), count, *extra])
    except TransactionConflict as exc:
        if exc.failed(0):
            current = from_item(exc.reasons[0].get("Item", {})).get("status", "")
            raise InvalidTransition(DispatchStatus(current or status)) from exc
        if not exc.failed(1):
            raise
        # The counter was already zero (repaired by reconcile): finish without going negative.
        transact_write([finish, count, *extra])


def _release(tenant_id: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TENANTS.name,
            "Key": tenant_key(tenant_id),
            "UpdateExpression": "SET currentUsage.concurrentJobs = currentUsage.concurrentJobs - :one",
            "ConditionExpression": "currentUsage.concurrentJobs > :zero",
            "ExpressionAttributeValues": values({":one": 1, ":zero": 0}),
        }
    }


def tenant_set_concurrency(tenant_id: str, *, expected: int, actual: int) -> bool:
    """Repair the concurrency counter, only if it still holds what reconcile saw."""
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


# --- lists ----------------------------------------------------------------------------


def dispatch_list(
    *,
    tenant_id: str,
    status: DispatchStatus | None = None,
    agent: str = "",
    repo: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Dispatch]:
    """One tenant's dispatches, newest first: exactly one Query per page."""
    return _newest_first(
        ("user-dispatches-index", "user_id", tenant_id),
        since=since,
        until=until,
        status=status,
        agent=agent,
        repo=repo,
        cursor=cursor,
        limit=limit,
    )


def dispatch_list_day(
    *,
    day: date,
    status: DispatchStatus | None = None,
    agent: str = "",
    repo: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Dispatch]:
    """Every tenant's dispatches created on one UTC day (within since-until), newest first."""
    return _newest_first(
        ("dispatch-day-index", "started_day", day.isoformat()),
        since=since,
        until=until,
        status=status,
        agent=agent,
        repo=repo,
        cursor=cursor,
        limit=limit,
    )


def _newest_first(
    partition: tuple[str, str, str],
    *,
    since: datetime | None,
    until: datetime | None,
    status: DispatchStatus | None,
    agent: str,
    repo: str,
    cursor: str | None,
    limit: int,
) -> Page[Dispatch]:
    """One page of an index partition, newest first; the cursor is bound to all of it."""
    index, attr, value = partition
    params = _range_query(attr, value, since, until)
    params.update(IndexName=index)
    _add_filters(params, status=status, agent=agent, repo=repo)
    items, next_cursor = query_page(
        params,
        limit=limit,
        cursor=cursor,
        scope=f"{index}:{value}:{status}:{agent}:{repo}:{since}:{until}",
        key_names=("dispatch_id", attr, "started_at"),
    )
    return Page([_from_item(i) for i in items], next_cursor)


def dispatch_iter_by_status(
    status: DispatchStatus, *, tenant_id: str | None = None, page_size: int = 25
) -> Iterator[Dispatch]:
    """Oldest first, page after page as the caller reads on (optionally one tenant's only)."""
    params: dict[str, Any] = {
        "TableName": DISPATCHES.name,
        "IndexName": "status-index",
        "KeyConditionExpression": "#status = :status",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values({":status": str(status)}),
        "ScanIndexForward": True,
        "Limit": page_size,
    }
    if tenant_id:
        params["FilterExpression"] = "user_id = :tenant"
        params["ExpressionAttributeValues"].update(values({":tenant": tenant_id}))
    return (_from_item(i) for i in query_all(params))


def _range_query(
    attr: str, value: str, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    condition = f"{attr} = :p"
    vals: dict[str, Any] = {":p": value}
    if since or until:
        condition += " AND started_at BETWEEN :since AND :until"
        vals[":since"] = iso(since) if since else "0000"
        vals[":until"] = iso(until) if until else "9999"
    return {
        "TableName": DISPATCHES.name,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": vals,
        "ScanIndexForward": False,
    }


def _add_filters(
    params: dict[str, Any], *, status: DispatchStatus | None, agent: str, repo: str
) -> None:
    filters, names = [], {}
    vals = params["ExpressionAttributeValues"]
    for attr, value in (
        ("status", str(status) if status else ""),
        ("agent", agent),
        ("repo", repo),
    ):
        if value:
            filters.append(f"#{attr} = :{attr}")
            names[f"#{attr}"] = attr
            vals[f":{attr}"] = value
    params["ExpressionAttributeValues"] = values(vals)
    if filters:
        params["FilterExpression"] = " AND ".join(filters)
        params["ExpressionAttributeNames"] = names


# --- logs -------------------------------------------------------------------------------


def log_append(dispatch: Dispatch, *, seq: int, text: str, now: datetime) -> None:
    call(
        "put_item",
        TableName=DISPATCH_LOGS.name,
        Item=to_item(
            {
                "dispatch_id": dispatch.dispatch_id,
                "seq": seq,
                "text": text,
                "created_at": iso(now),
                "expires_at": dispatch.expires_at or None,
            }
        ),
        ConditionExpression="attribute_not_exists(seq)",
    )


def log_after(dispatch_id: str, *, after: int, limit: int = 200) -> list[LogChunk]:
    """The chunks written after sequence number `after`, oldest first: one Query."""
    response = call(
        "query",
        TableName=DISPATCH_LOGS.name,
        KeyConditionExpression="dispatch_id = :d AND seq > :after",
        ExpressionAttributeValues=values({":d": dispatch_id, ":after": after}),
        Limit=limit,
    )
    return [_chunk_from_item(i) for i in response.get("Items", [])]


def log_all(dispatch_id: str) -> Iterator[LogChunk]:
    """Every chunk, oldest first, page after page (for a download of the whole log)."""
    params = {
        "TableName": DISPATCH_LOGS.name,
        "KeyConditionExpression": "dispatch_id = :d",
        "ExpressionAttributeValues": values({":d": dispatch_id}),
    }
    return (_chunk_from_item(i) for i in query_all(params))


def _chunk_from_item(item: dict[str, Any]) -> LogChunk:
    data = from_item(item)
    created = parse_iso(data.get("created_at")) or utcnow()
    return LogChunk(int(data["seq"]), data.get("text", ""), created)


def log_tail(dispatch_id: str, *, chunks: int = 20) -> list[LogChunk]:
    response = call(
        "query",
        TableName=DISPATCH_LOGS.name,
        KeyConditionExpression="dispatch_id = :d",
        ExpressionAttributeValues=values({":d": dispatch_id}),
        ScanIndexForward=False,
        Limit=chunks,
    )
    return [_chunk_from_item(i) for i in reversed(response.get("Items", []))]
