"""Audit records: one item per event, the whole log by UTC day through audit-day-index."""

import json
from datetime import date, timedelta
from typing import Any

from django.conf import settings

from outpost_admin.dynamo import Action, Page, call, from_item, parse_iso, to_item, utcnow, values
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
    if tenant_id:
        params: dict[str, Any] = {"KeyConditionExpression": "tenant_id = :p"}
        vals: dict[str, Any] = {":p": tenant_id}
        key_names: tuple[str, ...] = ("tenant_id", "timestamp")
        if day:
            params["KeyConditionExpression"] += " AND begins_with(#ts, :day)"
            names["#ts"] = "timestamp"
            vals[":day"] = day.isoformat()
    else:
        params = {"IndexName": "audit-day-index", "KeyConditionExpression": "#day = :p"}
        names["#day"] = "day"
        vals = {":p": (day or utcnow().date()).isoformat()}
        key_names = ("tenant_id", "timestamp", "day")
    filters = _filters(names, vals, action=action, actor=actor, resource=resource, text=text)
    if filters:
        params["FilterExpression"] = " AND ".join(filters)
    if names:
        params["ExpressionAttributeNames"] = names
    params.update(
        TableName=AUDIT.name, ScanIndexForward=False, ExpressionAttributeValues=values(vals)
    )
    items, next_cursor = query_page(
        params,
        limit=limit,
        cursor=cursor,
        scope=f"audit:{tenant_id}:{day}:{action}:{actor}:{resource}:{text}",
        key_names=key_names,
        max_reads=5,
        read_size=200 if filters else 0,
    )
    return Page([_from_item(i) for i in items], next_cursor)


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
