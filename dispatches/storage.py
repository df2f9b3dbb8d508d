"""Dispatches, their logs and idempotency records, and the transactions that move them.

The tenant's quota counters (its slot, the day's count) are built by tenants.counters; this
module puts those actions into the dispatch's own transactions. The usage roll-ups are not
here: they are counted from the stream (usage/rollups_stream.py).
"""

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from outpost_admin import billing_marks
from outpost_admin.audit import AuditEvent, audit_action
from outpost_admin.dynamo import (
    Action,
    BadCursor,
    Conflict,
    IndexMissing,
    NotFound,
    Page,
    TransactionConflict,
    call,
    from_item,
    iso,
    parse_iso,
    to_item,
    transact,
    utcnow,
    values,
)
from outpost_admin.dynamo.merge import query_shards
from outpost_admin.dynamo.paging import query_all, query_page
from outpost_admin.dynamo.tables import DISPATCH_LOGS, DISPATCHES, IDEMPOTENCY, TENANTS
from tenants import budgets, counters

from . import claim_queue, history_index
from .domain import (
    COUNTED_BY_STREAM,
    ORIGIN,
    REFUSED,
    BudgetExceeded,
    Dispatch,
    DispatchStatus,
    IdempotencyInFlight,
    IdempotencyMismatch,
    InvalidTransition,
    KeyNotActive,
    LogChunk,
    QuotaExceeded,
    RowFilters,
    TenantNotActive,
)

__all__ = ["NotFound", "Replay"]

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
            "origin": d.origin or None,
            "repo": d.repo or None,
            "branch": d.branch or None,
            "timeout_seconds": d.timeout_seconds,
            "api_key_id": d.api_key_id or None,
            "idempotency_key": d.idempotency_key or None,
            "tags": dict(d.tags) or None,
            "ended_at": iso(d.ended_at) if d.ended_at else None,
            "claimed_at": iso(d.claimed_at) if d.claimed_at else None,
            "worker_id": d.worker_id or None,
            "task_arn": d.task_arn or None,
            "exit_code": d.exit_code,
            "error_message": d.error_message or None,
            "status_reason": d.status_reason or None,
            "expires_at": d.expires_at,
            "rerun_of": d.rerun_of or None,
            "callback_url": d.callback_url or None,
            "api_key_name": d.api_key_name or None,
            # In the claim queue while it waits (ours only: workers claim nothing else).
            "claim_queue": claim_queue.shard_of(d.dispatch_id)
            if d.is_ours and d.status == DispatchStatus.PENDING
            else None,
            # Its usage roll-ups are counted from the stream (usage/rollups_stream.py).
            "counted_by": COUNTED_BY_STREAM if d.is_ours else None,
            **history_index.listed(d.dispatch_id, d.task),
        }
    )


def _tags(value: Any) -> dict[str, str]:
    """A map of strings (the control plane's shape); records written as a list keep their names."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return {str(t): "" for t in value}
    return {}


def dispatch_from_item(item: dict[str, Any]) -> Dispatch:
    """A dispatch item, whoever wrote it (a stream image as well as a read)."""
    data = from_item(item)
    return Dispatch(
        dispatch_id=data["dispatch_id"],
        tenant_id=data.get("user_id", ""),
        agent=data.get("agent", ""),
        model_id=data.get("model_id", ""),
        # A history index entry holds only the task's head.
        task=data.get("task", data.get("task_head", "")),
        status=DispatchStatus(data.get("status", "PENDING").upper()),
        started_at=parse_iso(data.get("started_at")) or datetime.min,
        version=int(data.get("version", 1)),
        repo=data.get("repo", ""),
        branch=data.get("branch", ""),
        timeout_seconds=int(data.get("timeout_seconds", 600)),
        api_key_id=data.get("api_key_id", ""),
        idempotency_key=data.get("idempotency_key", ""),
        tags=_tags(data.get("tags")),
        ended_at=parse_iso(data.get("ended_at")),
        claimed_at=parse_iso(data.get("claimed_at")),
        worker_id=data.get("worker_id", ""),
        exit_code=data.get("exit_code"),
        error_message=data.get("error_message", ""),
        status_reason=data.get("status_reason", ""),
        expires_at=int(data.get("expires_at", 0)),
        origin=data.get("origin", ""),
        task_arn=data.get("task_arn", ""),
        rerun_of=data.get("rerun_of", ""),
        interruptions=int(data.get("interruptions", 0)),
        cost=data.get("cost") if isinstance(data.get("cost"), dict) else None,
        callback_url=data.get("callback_url", ""),
        api_key_name=data.get("api_key_name", ""),
    )


_from_item = dispatch_from_item


def _key(dispatch_id: str) -> dict[str, Any]:
    return to_item({"dispatch_id": dispatch_id})


def dispatch_get(dispatch_id: str) -> Dispatch:
    response = call(
        "get_item", TableName=DISPATCHES.name, Key=_key(dispatch_id), ConsistentRead=True
    )
    if "Item" not in response:
        raise NotFound(f"dispatch {dispatch_id}")
    return _from_item(response["Item"])


def dispatch_get_many(dispatch_ids: list[str]) -> dict[str, Dispatch]:
    """The dispatches that exist among these ids (BatchGetItem, 100 at a time)."""
    found: dict[str, Dispatch] = {}
    for start in range(0, len(dispatch_ids), 100):
        keys = [_key(i) for i in dict.fromkeys(dispatch_ids[start : start + 100])]
        request = {DISPATCHES.name: {"Keys": keys, "ConsistentRead": True}}
        while request:
            response = call("batch_get_item", RequestItems=request)
            for item in response.get("Responses", {}).get(DISPATCHES.name, []):
                dispatch = _from_item(item)
                found[dispatch.dispatch_id] = dispatch
            request = response.get("UnprocessedKeys") or {}
    return found


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
    key_check: Action | None = None,
    budget_key_id: str = "",
) -> None:
    """Write the dispatch, take a concurrency slot and a daily count, all or nothing; and
    only while this month's spend is under the tenant's hard budget and the key's
    (`budget_key_id`): ConditionChecks in the same transaction (tenants/budgets.py).

    With an idempotency key the stored response goes in the same transaction, so a replay
    can never see a dispatch without its record or the other way round. `key_check` (the
    caller's key is still valid) refuses a create at once after a revocation or
    suspension, whatever any process has cached.
    """
    put = {
        "TableName": DISPATCHES.name,
        "Item": _to_item(dispatch),
        "ConditionExpression": "attribute_not_exists(dispatch_id)",
    }
    tenant_id = dispatch.tenant_id
    actions: list[Action] = [
        ("dispatch", {"Put": put}),
        *counters.take_slot(tenant_id, dispatch.dispatch_id, now=dispatch.started_at),
        counters.count_quota_day(tenant_id, dispatch.started_at.date(), max_per_day=max_per_day),
        *budgets.check(tenant_id, api_key_id=budget_key_id, now=dispatch.started_at),
        audit_action(event),
    ]
    if dispatch.idempotency_key:
        actions.append(_idempotency_put(dispatch, request_hash, response or {}))
    if key_check:
        actions.append(key_check)
    try:
        transact(actions)
    except TransactionConflict as exc:
        _explain_create_failure(exc, dispatch, max_per_day, request_hash)
        raise


def _idempotency_put(dispatch: Dispatch, request_hash: str, response: dict[str, Any]) -> Action:
    expires = dispatch.started_at + IDEMPOTENCY_TTL
    put = {
        "TableName": IDEMPOTENCY.name,
        "Item": to_item(
            {
                "idempotency_key": _idempotency_key(dispatch.tenant_id, dispatch.idempotency_key),
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
    return "idempotency", {"Put": put}


def _explain_create_failure(
    exc: TransactionConflict, dispatch: Dispatch, max_per_day: int, request_hash: str
) -> None:
    if exc.failed("key"):  # checked first: a revoked key gets no replay either
        key = from_item(exc.old_item("key"))
        if key.get("status") == "active" and key.get("tenantStatus", "active") != "active":
            raise TenantNotActive(f"The tenant is {key['tenantStatus']}.")
        raise KeyNotActive("The API key has been revoked or has expired.")
    if exc.reason("idempotency").get("Code") in ("ConditionalCheckFailed", "TransactionConflict"):
        raise idempotency_outcome(dispatch.tenant_id, dispatch.idempotency_key, request_hash)
    if exc.failed("slot"):
        tenant = from_item(exc.old_item("slot"))
        if tenant.get("status") != "active":
            raise TenantNotActive(f"The tenant is {tenant.get('status', 'missing')}.")
        usage = tenant.get("currentUsage", {})
        raise QuotaExceeded(
            limit="concurrency",
            maximum=int(tenant.get("usageLimits", {}).get("maxConcurrentJobs", 0)),
            current=int(usage.get("concurrentJobs", 0)),
            resets_at=None,
        )
    for limit in ("budget", "key_budget"):
        if exc.failed(limit):
            _over_budget(limit, from_item(exc.old_item(limit)), dispatch.started_at)
    if exc.failed("day"):
        current = int(from_item(exc.old_item("day")).get("dispatches", 0))
        midnight = datetime.combine(
            dispatch.started_at.date() + timedelta(days=1), datetime.min.time()
        )
        raise QuotaExceeded(
            limit="daily",
            maximum=max_per_day,
            current=current,
            resets_at=midnight.replace(tzinfo=dispatch.started_at.tzinfo),
        )


def _over_budget(limit: str, item: dict[str, Any], now: datetime) -> None:
    budget = budgets.from_image(item, budgets.month_of(now))
    raise BudgetExceeded(
        limit=limit,
        maximum=budget.hard or 0,
        current=budget.spent,
        resets_at=budgets.resets_at(now),
    )


class Replay(Exception):
    """The same key and body were seen before: answer with the stored response, or, for a
    record the control plane wrote (no stored response), with the dispatch it names."""

    def __init__(self, response: dict[str, Any] | None, dispatch_id: str = ""):
        super().__init__("replay")
        self.response = response
        self.dispatch_id = dispatch_id


def idempotency_outcome(tenant_id: str, key: str, request_hash: str) -> Exception:
    """What a request whose idempotency key is taken gets: a replay, a 422, or a 409."""
    response = call(
        "get_item",
        TableName=IDEMPOTENCY.name,
        Key=to_item({"idempotency_key": _idempotency_key(tenant_id, key)}),
        ConsistentRead=True,
    )
    record = from_item(response.get("Item", {}))
    if "dispatch_id" not in record:  # the transaction that writes it has not committed yet
        return IdempotencyInFlight("A request with this idempotency key is still in progress.")
    if "response" not in record:  # the control plane's: no body to compare, no response kept
        return Replay(None, dispatch_id=record["dispatch_id"])
    if record.get("request_hash") != request_hash:
        return IdempotencyMismatch("This idempotency key was used with a different request body.")
    return Replay(json.loads(record.get("response", "{}")), dispatch_id=record["dispatch_id"])


# --- state changes ------------------------------------------------------------------


def dispatch_claim(
    dispatch: Dispatch,
    *,
    worker_id: str,
    now: datetime,
    hook: tuple[str, dict[str, Any]] | None = None,
) -> Dispatch | None:
    """PENDING -> RUNNING for this worker, if it is ours (out of the claim queue); None if
    someone else got there first. One conditional write, which answers with the whole
    dispatch (the claim queue holds no task); the queue's count follows from the stream.
    `hook`: a SET clause and its values riding on the same write (the outbox's started
    event, dispatches/outbox.py)."""
    hook_set, hook_values = hook if hook else ("", {})
    claim = {
        "TableName": DISPATCHES.name,
        "Key": _key(dispatch.dispatch_id),
        "UpdateExpression": "SET #status = :running, worker_id = :worker, claimed_at = :now, "
        f"version = version + :one{', ' + hook_set if hook_set else ''} REMOVE claim_queue",
        "ConditionExpression": "#status = :pending AND origin = :ours",
        "ReturnValues": "ALL_NEW",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values(
            {
                ":running": str(DispatchStatus.RUNNING),
                ":pending": str(DispatchStatus.PENDING),
                ":worker": worker_id,
                ":now": iso(now),
                ":one": 1,
                ":ours": ORIGIN,
                **hook_values,
            }
        ),
    }
    try:
        return _from_item(call("update_item", **claim)["Attributes"])
    except Conflict:
        return None


def dispatch_set_task_arn(dispatch: Dispatch, *, task_arn: str) -> Dispatch | None:
    """Record the ECS task running it; None if it is no longer this worker's RUNNING dispatch."""
    return _update_running(
        dispatch,
        expression="SET task_arn = :arn, version = version + :one",
        extra={":arn": task_arn},
    )


def dispatch_adopt(dispatch: Dispatch, *, worker_id: str) -> Dispatch | None:
    """Take over the ECS task of a dead worker's dispatch; None if another worker was quicker."""
    return _update_running(
        dispatch,
        expression="SET worker_id = :new, version = version + :one",
        extra={":new": worker_id, ":arn": dispatch.task_arn},
        condition=" AND task_arn = :arn",
    )


def _update_running(
    dispatch: Dispatch, *, expression: str, extra: dict[str, Any], condition: str = ""
) -> Dispatch | None:
    """An update that holds only while the dispatch is RUNNING under the worker we saw."""
    try:
        response = call(
            "update_item",
            TableName=DISPATCHES.name,
            Key=_key(dispatch.dispatch_id),
            UpdateExpression=expression,
            ConditionExpression="#status = :running AND worker_id = :worker" + condition,
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values(
                {
                    ":running": str(DispatchStatus.RUNNING),
                    ":worker": dispatch.worker_id,
                    ":one": 1,
                    **extra,
                }
            ),
            ReturnValues="ALL_NEW",
        )
    except Conflict:
        return None
    return _from_item(response["Attributes"])


def dispatch_requeue(dispatch: Dispatch, *, reason: str, event: AuditEvent) -> bool:
    """RUNNING -> PENDING (its worker is gone), back in the claim queue, audited; the slot
    stays taken. The run it cut short is counted in `interruptions`, and the reason stays on
    the record. False if it is no longer RUNNING under that worker."""
    requeue = {
        "TableName": DISPATCHES.name,
        "Key": _key(dispatch.dispatch_id),
        "UpdateExpression": "SET #status = :pending, status_reason = :reason, "
        "version = version + :one, claim_queue = :shard ADD interruptions :one "
        "REMOVE worker_id, claimed_at",
        "ConditionExpression": "#status = :running AND worker_id = :worker",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values(
            {
                ":running": str(DispatchStatus.RUNNING),
                ":pending": str(DispatchStatus.PENDING),
                ":worker": dispatch.worker_id,
                ":reason": reason,
                ":one": 1,
                ":shard": claim_queue.shard_of(dispatch.dispatch_id),
            }
        ),
    }
    try:
        transact([("dispatch", {"Update": requeue}), audit_action(event)])
    except TransactionConflict as exc:
        if exc.failed("dispatch"):
            return False
        raise
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
    run: datetime | None = None,
    cost: dict[str, Any] | None = None,
    outbox: Action | None = None,
    spend: list[Action] | None = None,
) -> None:
    """Write a terminal status (and what it cost) and give the slot back: together, once.
    `spend`: the cost added to this month's spend of the tenant and key (tenants/budgets.py).
    (Its outcome is counted from the stream.) `outbox`: the webhook event it causes, in the
    same write.

    The write expects the status the caller read (PENDING or RUNNING); one claimed or
    re-queued meanwhile is finished as it is now (a cancel). With `run` (the claim time of
    the run whose outcome this is: a worker's, or recovery's), only that run is ended: a
    dispatch queued again or claimed anew meanwhile is another run, left alone.
    Raises InvalidTransition when the dispatch is already terminal (whoever ended it
    released the slot, or the recovery sweep will), or with `run`, no longer in that run.
    """
    seen = dispatch.status if dispatch.status in ACTIVE else DispatchStatus.RUNNING
    sets = {":status": str(status), ":ended": iso(now), ":one": 1, ":seen": str(seen)}
    condition = "#status = :seen"
    if run is not None:
        condition += " AND claimed_at = :run"
        sets[":run"] = iso(run)
    expression = "SET #status = :status, ended_at = :ended, version = version + :one"
    removed = " REMOVE claim_queue"  # out of the queue, if it was waiting
    if cost and billing_marks.billing_on():
        # Due for Stripe's meter: the workers' billing pass reports it and removes the mark.
        expression += ", meter_due = :meter_due"
        sets[":meter_due"] = billing_marks.meter_shard(dispatch.dispatch_id)
    for attr, value in (
        ("exit_code", exit_code),
        ("error_message", error_message),
        ("status_reason", status_reason),
        ("cost", cost),
    ):
        if value not in (None, ""):
            expression += f", {attr} = :{attr}"
            sets[f":{attr}"] = value
    finish = {
        "TableName": DISPATCHES.name,
        "Key": _key(dispatch.dispatch_id),
        "UpdateExpression": expression + removed,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values(sets),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    ending: list[Action] = [
        ("dispatch", {"Update": finish}),
        *([audit_action(event)] if event else []),
        *([outbox] if outbox else []),
        *(spend or []),
    ]
    try:
        _transact_releasing(ending, dispatch.tenant_id, dispatch.dispatch_id)
    except TransactionConflict as exc:
        if not exc.failed("dispatch"):
            raise
        old = exc.old_item("dispatch")
        current = DispatchStatus(from_item(old).get("status") or status)
        if run is None and current in ACTIVE and current != seen:  # moved since it was read
            dispatch_finish(
                _from_item(old),
                status=status,
                now=now,
                exit_code=exit_code,
                error_message=error_message,
                status_reason=status_reason,
                event=event,
                cost=cost,
                outbox=outbox,
                spend=spend,
            )
            return
        raise InvalidTransition(current) from exc


def _transact_releasing(ending: list[Action], tenant_id: str, dispatch_id: str) -> bool:
    """Run `ending` together with the release of the dispatch's slot (counters.py, which
    also finds a marker an earlier version wrote). True if this call released the slot."""
    return counters.transact_releasing(ending, tenant_id, dispatch_id)


# --- the meter marks (outpost_admin/billing_marks.py) ------------------------------------


def meter_due(shard: str, *, limit: int) -> list[Dispatch]:
    """One shard's oldest ended dispatches whose meter events are due: id, tenant, end and
    cost (what `meter-due-index` projects), nothing else."""
    response = call(
        "query",
        TableName=DISPATCHES.name,
        IndexName=billing_marks.METER_DUE_INDEX,
        KeyConditionExpression="meter_due = :shard",
        ExpressionAttributeValues=values({":shard": shard}),
        Limit=limit,
    )
    return [_metered(from_item(item)) for item in response.get("Items", [])]


def _metered(data: dict[str, Any]) -> Dispatch:
    return Dispatch(
        dispatch_id=data["dispatch_id"],
        tenant_id=data.get("user_id", ""),
        agent="",
        model_id="",
        task="",
        status=DispatchStatus.COMPLETED,  # some terminal status: the index does not say which
        started_at=datetime.min,
        ended_at=parse_iso(data.get("ended_at")),
        cost=data.get("cost") if isinstance(data.get("cost"), dict) else None,
    )


def meter_due_count(shard: str) -> int:
    """How many of one shard's dispatches are due (Select COUNT, every page)."""
    params: dict[str, Any] = {
        "TableName": DISPATCHES.name,
        "IndexName": billing_marks.METER_DUE_INDEX,
        "KeyConditionExpression": "meter_due = :shard",
        "ExpressionAttributeValues": values({":shard": shard}),
        "Select": "COUNT",
    }
    total = 0
    while True:
        response = call("query", **params)
        total += int(response.get("Count", 0))
        if "LastEvaluatedKey" not in response:
            return total
        params["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def meter_done(dispatch_id: str) -> bool:
    """Remove the meter mark (Stripe accepted its events); False if it was gone already."""
    try:
        call(
            "update_item",
            TableName=DISPATCHES.name,
            Key=_key(dispatch_id),
            UpdateExpression="REMOVE meter_due",
            ConditionExpression="attribute_exists(meter_due)",
        )
    except Conflict:
        return False
    return True


def refusal_record(dispatch: Dispatch, *, limit: str) -> None:
    """Leave a create its tenant's limits refused for the usage roll-ups to count: one small
    item under the tenant (no item other tenants write), which counting deletes."""
    item = {
        "tenant_id": dispatch.tenant_id,
        "sk": f"{REFUSED}{dispatch.dispatch_id}",
        "limit": limit,
        "agent": dispatch.agent,
        "api_key_id": dispatch.api_key_id,
        "refused_at": iso(dispatch.started_at),
    }
    call("put_item", TableName=TENANTS.name, Item=to_item(item))


def slot_release_orphan(tenant_id: str, dispatch_id: str, dispatch: Dispatch | None) -> bool:
    """Give back the slot of a dispatch that ended (or vanished) without releasing it: the
    control plane cancelled or completed it, or TTL deleted it. (Its outcome is counted from
    the stream, like every other.) False if already released."""
    return _transact_releasing([], tenant_id, dispatch_id)


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
    max_reads: int = 1,
    read_size: int = 0,
    more: RowFilters | None = None,
) -> Page[Dispatch]:
    """One tenant's dispatches, newest first (`more.oldest_first`: oldest): one Query per
    page, or up to `max_reads` of `read_size` items each while filters leave the page short
    (query_page). `more` filters by tag and key, which only this index holds (ALL)."""
    return _newest_first(
        ("user-dispatches-index", "user_id", tenant_id),
        since=since,
        until=until,
        status=status,
        agent=agent,
        repo=repo,
        cursor=cursor,
        limit=limit,
        max_reads=max_reads,
        read_size=read_size,
        more=more or RowFilters(),
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
    max_reads: int = 1,
    read_size: int = 0,
) -> Page[Dispatch]:
    """Every tenant's dispatches created on one UTC day (within since-until), newest first."""
    filters: dict[str, Any] = {
        "status": status,
        "agent": agent,
        "repo": repo,
        "cursor": cursor,
        "limit": limit,
        "max_reads": max_reads,
        "read_size": read_size,
    }
    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = datetime.combine(day, time.max, tzinfo=UTC)
    try:
        return dispatch_list_between(
            since=max(since, start) if since else start,
            until=min(until, end) if until else end,
            **filters,
        )
    except (IndexMissing, BadCursor):  # before upgrade_layout, or a cursor made then
        return dispatch_list_day_partition(day=day, since=since, until=until, **filters)


def dispatch_list_between(
    *,
    since: datetime,
    until: datetime,
    status: DispatchStatus | None = None,
    agent: str = "",
    repo: str = "",
    cursor: str | None = None,
    limit: int = 50,
    max_reads: int = 1,
    read_size: int = 0,
) -> Page[Dispatch]:
    """Every tenant's dispatches created between two times, newest first: one Query per
    shard of `dispatch-time-index` per read (up to `max_reads` reads of `read_size` items
    per shard while filters leave the page short), whatever the range. IndexMissing until
    `upgrade_layout` has added it (callers then read the day partitions)."""
    params: dict[str, Any] = {
        "TableName": DISPATCHES.name,
        "KeyConditionExpression": "time_shard = :shard AND started_at BETWEEN :since AND :until",
        "ExpressionAttributeValues": {":since": iso(since), ":until": iso(until)},
        "ScanIndexForward": False,
    }
    _add_filters(params, status=status, agent=agent, repo=repo)
    items, next_cursor = query_shards(
        {**params, "IndexName": history_index.INDEX},
        shards=history_index.shards(),
        sort_key="started_at",
        descending=True,
        limit=limit,
        cursor=cursor,
        scope=f"{history_index.INDEX}:{status}:{agent}:{repo}:{since}:{until}",
        key_names=("dispatch_id", "time_shard", "started_at"),
        max_reads=max_reads,
        read_size=read_size,
    )
    return Page([_from_item(i) for i in items], next_cursor)


def dispatch_list_day_partition(
    *,
    day: date,
    status: DispatchStatus | None = None,
    agent: str = "",
    repo: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
    max_reads: int = 1,
    read_size: int = 0,
) -> Page[Dispatch]:
    """dispatch_list_day on the index before issue 13, one partition per UTC day."""
    return _newest_first(
        (history_index.OLD_INDEX, "started_day", day.isoformat()),
        since=since,
        until=until,
        status=status,
        agent=agent,
        repo=repo,
        cursor=cursor,
        limit=limit,
        max_reads=max_reads,
        read_size=read_size,
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
    max_reads: int = 1,
    read_size: int = 0,
    more: RowFilters | None = None,
) -> Page[Dispatch]:
    """One page of an index partition, newest first; the cursor is bound to all of it."""
    index, attr, value = partition
    more = more or RowFilters()
    params = _range_query(attr, value, since, until)
    params.update(IndexName=index, ScanIndexForward=more.oldest_first)
    _add_filters(params, status=status, agent=agent, repo=repo, more=more)
    items, next_cursor = query_page(
        params,
        limit=limit,
        cursor=cursor,
        scope=f"{index}:{value}:{status}:{agent}:{repo}:{since}:{until}{more.scope()}",
        key_names=("dispatch_id", attr, "started_at"),
        max_reads=max_reads,
        read_size=read_size,
    )
    return Page([_from_item(i) for i in items], next_cursor)


def dispatch_iter_ours(
    status: DispatchStatus, *, tenant_id: str | None = None, page_size: int = 25
) -> Iterator[Dispatch]:
    """Our dispatches (origin outpost-admin) in one status, oldest first, page after page as
    the caller reads on (optionally one tenant's only). The control plane's are filtered out."""
    vals: dict[str, Any] = {":status": str(status), ":ours": ORIGIN}
    filters = ["origin = :ours"]
    if tenant_id:
        filters.append("user_id = :tenant")
        vals[":tenant"] = tenant_id
    params: dict[str, Any] = {
        "TableName": DISPATCHES.name,
        "IndexName": "status-index",
        "KeyConditionExpression": "#status = :status",
        "FilterExpression": " AND ".join(filters),
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values(vals),
        "ScanIndexForward": True,
        "Limit": page_size,
    }
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
    params: dict[str, Any],
    *,
    status: DispatchStatus | None,
    agent: str,
    repo: str,
    more: RowFilters | None = None,
) -> None:
    filters, names = [], {}
    vals = params["ExpressionAttributeValues"]
    more = more or RowFilters()
    for attr, value in (
        ("status", str(status) if status else ""),
        ("agent", agent),
        ("repo", repo),
        ("api_key_id", more.key_id),
        ("api_key_name", more.key_name),
    ):
        if value:
            filters.append(f"#{attr} = :{attr}")
            names[f"#{attr}"] = attr
            vals[f":{attr}"] = value
    if more.tag_name:
        names["#tags"], names["#tag"] = "tags", more.tag_name
        if more.tag_value is None:
            filters.append("attribute_exists(#tags.#tag)")
        else:
            filters.append("#tags.#tag = :tag")
            vals[":tag"] = more.tag_value
    params["ExpressionAttributeValues"] = values(vals)
    if filters:
        params["FilterExpression"] = " AND ".join(filters)
        params["ExpressionAttributeNames"] = names


# --- logs -------------------------------------------------------------------------------


def log_append(
    dispatch: Dispatch, *, seq: int, text: str, now: datetime, line_times: list[int] | None = None
) -> None:
    """One chunk; `line_times` (epoch ms, one per domain.log_pieces(text)) beside the text,
    which stays the output exactly as captured."""
    call(
        "put_item",
        TableName=DISPATCH_LOGS.name,
        Item=to_item(
            {
                "dispatch_id": dispatch.dispatch_id,
                "seq": seq,
                "text": text,
                "created_at": iso(now),
                "line_times": line_times or None,
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
    times = data.get("line_times")
    line_times = tuple(int(t) for t in times) if isinstance(times, list) else ()
    return LogChunk(int(data["seq"]), data.get("text", ""), created, line_times)


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
