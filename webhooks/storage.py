"""A tenant's webhook configuration, in the webhooks table under the tenant: its endpoints
(`sk = CONFIG#ENDPOINT#<id>`), its failure-notification settings (`CONFIG#NOTIFY`) and its
callback secret (`CONFIG#CALLBACK`). One Query (`begins_with(sk, "CONFIG#")`) reads all of
it: what a fan-out needs. Every write states its precondition (`version`)."""

import contextlib
from datetime import datetime
from typing import Any

from outpost_admin.dynamo import (
    Action,
    Conflict,
    NotFound,
    call,
    from_item,
    iso,
    parse_iso,
    to_item,
    values,
)
from outpost_admin.dynamo.paging import query_all
from outpost_admin.dynamo.tables import WEBHOOKS

from .domain import Endpoint, NotifySettings, Secret

CONFIG = "CONFIG#"
ENDPOINT = f"{CONFIG}ENDPOINT#"
NOTIFY = f"{CONFIG}NOTIFY"
CALLBACK_SECRET = f"{CONFIG}CALLBACK"


def _key(tenant_id: str, sk: str) -> dict[str, Any]:
    return to_item({"tenant_id": tenant_id, "sk": sk})


def _secrets_to(secrets: tuple[Secret, ...]) -> list[dict[str, Any]]:
    return [
        {
            "value": s.value,
            "created_at": iso(s.created_at),
            "expires_at": iso(s.expires_at) if s.expires_at else None,
        }
        for s in secrets
    ]


def _secrets_from(raw: Any) -> tuple[Secret, ...]:
    return tuple(
        Secret(
            value=s["value"],
            created_at=parse_iso(s.get("created_at")),  # type: ignore[arg-type]
            expires_at=parse_iso(s.get("expires_at")),
        )
        for s in raw or []
    )


def _to_item(e: Endpoint) -> dict[str, Any]:
    return to_item(
        {
            "tenant_id": e.tenant_id,
            "sk": f"{ENDPOINT}{e.endpoint_id}",
            "kind": "endpoint",
            "endpoint_id": e.endpoint_id,
            "url": e.url,
            "description": e.description or None,
            "events": list(e.events),
            "enabled": e.enabled,
            "secrets": _secrets_to(e.secrets),
            "created_at": iso(e.created_at),
            "updated_at": iso(e.updated_at),
            "version": e.version,
            "failing_since": iso(e.failing_since) if e.failing_since else None,
            "disabled_reason": e.disabled_reason or None,
        }
    )


def _from_item(data: dict[str, Any]) -> Endpoint:
    return Endpoint(
        tenant_id=data["tenant_id"],
        endpoint_id=data["endpoint_id"],
        url=data["url"],
        description=data.get("description", ""),
        events=tuple(data.get("events", [])),
        enabled=bool(data.get("enabled", True)),
        secrets=_secrets_from(data.get("secrets")),
        created_at=parse_iso(data["created_at"]),  # type: ignore[arg-type]
        updated_at=parse_iso(data["updated_at"]),  # type: ignore[arg-type]
        version=int(data.get("version", 1)),
        failing_since=parse_iso(data.get("failing_since")),
        disabled_reason=data.get("disabled_reason", ""),
    )


def _notify_from(data: dict[str, Any]) -> NotifySettings:
    return NotifySettings(
        on_failure=bool(data.get("on_failure", False)),
        streak=int(data.get("streak", 0)),
        cooldown_seconds=int(data.get("cooldown_seconds", 3600)),
        failures_in_row=int(data.get("failures_in_row", 0)),
        last_sent_at=parse_iso(data.get("last_sent_at")),
    )


class Config:
    """Everything under `CONFIG#` of one tenant, as one Query read it."""

    def __init__(self, items: list[dict[str, Any]]):
        self.endpoints: list[Endpoint] = []
        self.notify = NotifySettings()
        self.callback_secrets: tuple[Secret, ...] = ()
        for data in items:
            if data["sk"].startswith(ENDPOINT):
                self.endpoints.append(_from_item(data))
            elif data["sk"] == NOTIFY:
                self.notify = _notify_from(data)
            elif data["sk"] == CALLBACK_SECRET:
                self.callback_secrets = _secrets_from(data.get("secrets"))


def config_get(tenant_id: str) -> Config:
    params = {
        "TableName": WEBHOOKS.name,
        "KeyConditionExpression": "tenant_id = :t AND begins_with(sk, :c)",
        "ExpressionAttributeValues": values({":t": tenant_id, ":c": CONFIG}),
        "ConsistentRead": True,
    }
    return Config([from_item(i) for i in query_all(params)])


def endpoint_get(tenant_id: str, endpoint_id: str) -> Endpoint:
    item = call(
        "get_item",
        TableName=WEBHOOKS.name,
        Key=_key(tenant_id, f"{ENDPOINT}{endpoint_id}"),
        ConsistentRead=True,
    ).get("Item")
    if not item:
        raise NotFound(f"webhook endpoint {endpoint_id}")
    return _from_item(from_item(item))


def endpoint_put(endpoint: Endpoint) -> Action:
    """A new endpoint, for the caller's transaction (with its audit record)."""
    put = {
        "TableName": WEBHOOKS.name,
        "Item": _to_item(endpoint),
        "ConditionExpression": "attribute_not_exists(sk)",
    }
    return "endpoint", {"Put": put}


def endpoint_replace(endpoint: Endpoint, *, seen_version: int) -> Action:
    """The endpoint as changed, if nobody changed it since `seen_version` was read."""
    put = {
        "TableName": WEBHOOKS.name,
        "Item": _to_item(endpoint),
        "ConditionExpression": "version = :v",
        "ExpressionAttributeValues": values({":v": seen_version}),
    }
    return "endpoint", {"Put": put}


def endpoint_delete(tenant_id: str, endpoint_id: str) -> Action:
    delete = {
        "TableName": WEBHOOKS.name,
        "Key": _key(tenant_id, f"{ENDPOINT}{endpoint_id}"),
        "ConditionExpression": "attribute_exists(sk)",
    }
    return "endpoint", {"Delete": delete}


def endpoint_mark_failing(endpoint: Endpoint, *, since: datetime) -> None:
    """The first failure since the last success (no-op when already failing)."""
    with contextlib.suppress(Conflict):
        call(
            "update_item",
            TableName=WEBHOOKS.name,
            Key=_key(endpoint.tenant_id, f"{ENDPOINT}{endpoint.endpoint_id}"),
            UpdateExpression="SET failing_since = :since",
            ConditionExpression="attribute_exists(sk) AND attribute_not_exists(failing_since)",
            ExpressionAttributeValues=values({":since": iso(since)}),
        )


def endpoint_mark_healthy(endpoint: Endpoint) -> None:
    with contextlib.suppress(Conflict):
        call(
            "update_item",
            TableName=WEBHOOKS.name,
            Key=_key(endpoint.tenant_id, f"{ENDPOINT}{endpoint.endpoint_id}"),
            UpdateExpression="REMOVE failing_since",
            ConditionExpression="attribute_exists(failing_since)",
        )


def endpoint_disable(endpoint: Endpoint, *, reason: str, now: datetime) -> bool:
    """Disable an endpoint failing since `endpoint.failing_since`; True for the one caller
    that did it (it tells the owners)."""
    try:
        call(
            "update_item",
            TableName=WEBHOOKS.name,
            Key=_key(endpoint.tenant_id, f"{ENDPOINT}{endpoint.endpoint_id}"),
            UpdateExpression="SET enabled = :off, disabled_reason = :r, updated_at = :now, "
            "version = version + :one",
            ConditionExpression="enabled = :on AND failing_since = :since",
            ExpressionAttributeValues=values(
                {
                    ":off": False,
                    ":on": True,
                    ":r": reason,
                    ":now": iso(now),
                    ":one": 1,
                    ":since": iso(endpoint.failing_since) if endpoint.failing_since else "",
                }
            ),
        )
    except Conflict:
        return False
    return True


# --- notification settings and the callback secret ---------------------------------------


def notify_save(tenant_id: str, *, on_failure: bool, streak: int, cooldown_seconds: int) -> Action:
    update = {
        "TableName": WEBHOOKS.name,
        "Key": _key(tenant_id, NOTIFY),
        "UpdateExpression": "SET on_failure = :f, streak = :s, cooldown_seconds = :c",
        "ExpressionAttributeValues": values(
            {":f": on_failure, ":s": streak, ":c": cooldown_seconds}
        ),
    }
    return "notify", {"Update": update}


def notify_count(tenant_id: str, *, failed: bool) -> Action:
    """A terminal outcome in the streak: one more failure in a row, or back to zero. Put in
    the fan-out's transaction, so each outcome counts once."""
    expression = "ADD failures_in_row :one" if failed else "SET failures_in_row = :zero"
    update = {
        "TableName": WEBHOOKS.name,
        "Key": _key(tenant_id, NOTIFY),
        "UpdateExpression": expression,
        "ExpressionAttributeValues": values({":one": 1} if failed else {":zero": 0}),
    }
    return "notify", {"Update": update}


def notify_claim_send(tenant_id: str, *, now: datetime, cooldown_seconds: int) -> bool:
    """Take the right to send one message now: True once per cooldown, for one caller."""
    since = datetime.fromtimestamp(now.timestamp() - cooldown_seconds, tz=now.tzinfo)
    try:
        call(
            "update_item",
            TableName=WEBHOOKS.name,
            Key=_key(tenant_id, NOTIFY),
            UpdateExpression="SET last_sent_at = :now",
            ConditionExpression="attribute_not_exists(last_sent_at) OR last_sent_at <= :since",
            ExpressionAttributeValues=values({":now": iso(now), ":since": iso(since)}),
        )
    except Conflict:
        return False
    return True


def callback_secret_save(tenant_id: str, secrets: tuple[Secret, ...], *, fresh: bool) -> Action:
    """The tenant's callback secrets; `fresh`: only if it has none yet (a fan-out creating
    the first one loses to a concurrent one, and reads theirs)."""
    put: dict[str, Any] = {
        "TableName": WEBHOOKS.name,
        "Item": to_item(
            {"tenant_id": tenant_id, "sk": CALLBACK_SECRET, "secrets": _secrets_to(secrets)}
        ),
    }
    if fresh:
        put["ConditionExpression"] = "attribute_not_exists(sk)"
    return "callback_secret", {"Put": put}
