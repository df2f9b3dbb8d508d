"""Audit records: one item per event, the whole log by UTC day through audit-time-index."""

import contextlib
import json
import zlib
from datetime import date, timedelta
from typing import Any

from django.conf import settings

from outpost_admin.dynamo import (
    Action,
    BadCursor,
    Conflict,
    IndexMissing,
    Page,
    call,
    from_item,
    parse_iso,
    to_item,
    utcnow,
    values,
)
from outpost_admin.dynamo.merge import query_shards
from outpost_admin.dynamo.paging import query_page
from outpost_admin.dynamo.tables import AUDIT

from .domain import AuditEvent


def _to_item(event: AuditEvent) -> dict[str, Any]:
    occurred = parse_iso(event.occurred_at)
    assert occurred is not None
    expires = occurred + timedelta(days=settings.AUDIT_RETENTION_DAYS)
    return to_item(
        {
            "tenant_id": event.tenant_id,
            "timestamp": event.timestamp,
            "day": event.occurred_at[:10],
            "time_shard": time_shard(event.tenant_id, event.timestamp),
            "action": event.action,
            "resource": event.resource,
            "actor": event.actor,
            "metadata": event.metadata or None,
            # The details as one string, for the text filter: `contains` never looks inside a map.
            "details": _details_text(event.metadata),
            "request_id": event.request_id or None,
            "ip_address": event.ip_address or None,
            "user_agent": event.user_agent or None,
            "expires_at": int(expires.timestamp()),
        }
    )


def _details_text(metadata: dict[str, Any]) -> str | None:
    if not metadata:
        return None
    return json.dumps(metadata, sort_keys=True, ensure_ascii=False, default=str)


def _from_item(item: dict[str, Any]) -> AuditEvent:
    data = from_item(item)
    return AuditEvent(
        tenant_id=data["tenant_id"],
        timestamp=data["timestamp"],
        action=data.get("action", ""),
        resource=data.get("resource", ""),
        actor=data.get("actor", ""),
        metadata=data.get("metadata", {}),
        request_id=data.get("request_id", ""),
        ip_address=data.get("ip_address", ""),
        user_agent=data.get("user_agent", ""),
    )


# The whole log's index, `audit-time-index`, is keyed on `time_shard` (one of SHARDS, from
# the record's key) and `timestamp`: each audited action writes one of SHARDS partitions
# (1,000 writes/s each), and the log of a day is SHARDS Queries merged newest first.
SHARDS = 4
INDEX = "audit-time-index"
OLD_INDEX = "audit-day-index"  # one partition per UTC day (before issue 13)


def time_shard(tenant_id: str, timestamp: str) -> str:
    return str(zlib.crc32(f"{tenant_id}#{timestamp}".encode()) % SHARDS)


def audit_backfill() -> int:
    """Give records written before the sharded index their `time_shard`; returns how many.
    A Scan (`manage.py upgrade_layout`, never a request), filtered to those without it."""
    params: dict[str, Any] = {
        "TableName": AUDIT.name,
        "FilterExpression": "attribute_not_exists(time_shard)",
        "ProjectionExpression": "tenant_id, #ts",
        "ExpressionAttributeNames": {"#ts": "timestamp"},
    }
    done = 0
    while True:
        page = call("scan", **params)
        for item in page.get("Items", []):
            data = from_item(item)
            update = {
                "TableName": AUDIT.name,
                "Key": item,
                "UpdateExpression": "SET time_shard = :shard",
                "ConditionExpression": "attribute_exists(tenant_id)",
                "ExpressionAttributeValues": values(
                    {":shard": time_shard(data["tenant_id"], data["timestamp"])}
                ),
            }
            with contextlib.suppress(Conflict):  # expired (TTL) meanwhile
                call("update_item", **update)
                done += 1
        if "LastEvaluatedKey" not in page:
            return done
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def audit_action(event: AuditEvent) -> Action:
    """The record as a named action of the caller's transaction."""
    put = {
        "TableName": AUDIT.name,
        "Item": _to_item(event),
        "ConditionExpression": "attribute_not_exists(tenant_id)",
    }
    return "audit", {"Put": put}


def audit_write(event: AuditEvent) -> None:
    call("put_item", **audit_action(event)[1]["Put"])


def audit_list(
    *,
    tenant_id: str = "",
    day: date | None = None,
    action: str = "",
    actor: str = "",
    resource: str = "",
    text: str = "",
    cursor: str | None = None,
    limit: int = 50,
) -> Page[AuditEvent]:
    """Newest first: one tenant's records, or everybody's on one UTC day; filtered by action
    prefix, actor, resource prefix and free text (in action, resource, actor, details,
    request, IP, user agent)."""
    names: dict[str, str] = {}
    vals: dict[str, Any] = {}
    filters = _filters(names, vals, action=action, actor=actor, resource=resource, text=text)
    page: dict[str, Any] = {
        "limit": limit,
        "cursor": cursor,
        "max_reads": 5,
        "read_size": 200 if filters else 0,
    }
    scope = f"{tenant_id}:{day}:{action}:{actor}:{resource}:{text}"
    if tenant_id:
        condition = "tenant_id = :p"
        vals[":p"] = tenant_id
        if day:
            condition += " AND begins_with(#ts, :day)"
            names["#ts"] = "timestamp"
            vals[":day"] = day.isoformat()
        params = _query(condition, names, vals, filters)
        items, next_cursor = query_page(
            params, scope=f"audit:{scope}", key_names=("tenant_id", "timestamp"), **page
        )
        return Page([_from_item(i) for i in items], next_cursor)
    names["#ts"] = "timestamp"
    vals[":day"] = (day or utcnow().date()).isoformat()
    try:
        params = _query("time_shard = :shard AND begins_with(#ts, :day)", names, vals, filters)
        items, next_cursor = query_shards(
            {**params, "IndexName": INDEX},
            shards={str(n): str(n) for n in range(SHARDS)},
            sort_key="timestamp",
            descending=True,
            scope=f"audit-time:{scope}",
            key_names=("tenant_id", "timestamp", "time_shard"),
            **page,
        )
    except (IndexMissing, BadCursor):
        # Until `upgrade_layout` has added the sharded index (or a cursor it made): the
        # day's single partition.
        vals[":p"] = vals.pop(":day")
        names["#day"] = "day"
        del names["#ts"]
        params = _query("#day = :p", names, vals, filters)
        items, next_cursor = query_page(
            {**params, "IndexName": OLD_INDEX},
            scope=f"audit:{scope}",
            key_names=("tenant_id", "timestamp", "day"),
            **page,
        )
    return Page([_from_item(i) for i in items], next_cursor)


def _query(
    condition: str, names: dict[str, str], vals: dict[str, Any], filters: list[str]
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "TableName": AUDIT.name,
        "KeyConditionExpression": condition,
        "ScanIndexForward": False,
        "ExpressionAttributeValues": values(vals),
    }
    if filters:
        params["FilterExpression"] = " AND ".join(filters)
    if names:
        params["ExpressionAttributeNames"] = dict(names)
    return params


def _filters(
    names: dict[str, str],
    vals: dict[str, Any],
    *,
    action: str,
    actor: str,
    resource: str,
    text: str,
) -> list[str]:
    """FilterExpression parts; adds the names and values they use."""
    filters = []
    for attr, condition, value in (
        ("action", "begins_with(#action, :action)", action),
        ("actor", "contains(#actor, :actor)", actor),
        ("resource", "begins_with(#resource, :resource)", resource),
    ):
        if value:
            filters.append(condition)
            names[f"#{attr}"] = attr
            vals[f":{attr}"] = value
    if text:
        fields = (
            "action",
            "actor",
            "resource",
            "details",
            "request_id",
            "ip_address",
            "user_agent",
        )
        names.update({f"#{f}": f for f in fields})
        filters.append("(" + " OR ".join(f"contains(#{f}, :text)" for f in fields) + ")")
        vals[":text"] = text
    return filters
