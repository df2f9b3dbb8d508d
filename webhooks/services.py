"""Every change to a tenant's webhooks, each audited in the same write where it is one write
(endpoints, settings), or right after it (resend, recover, test: the deliveries' own writes)."""

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from dispatches import outbox
from outpost_admin.audit import Actor, audit_action, audit_event, audit_write
from outpost_admin.dynamo import NotFound, TransactionConflict, transact, utcnow
from outpost_admin.webhook_urls import url_error

from . import delivery_storage, payloads, signing, storage
from .domain import (
    EVENT_NAMES,
    MAX_ENDPOINTS,
    TEST_EVENT,
    Delivery,
    DeliveryStatus,
    Endpoint,
    EndpointLimit,
    Secret,
    WebhookError,
)


def _audit(tenant_id: str, action: str, resource: str, actor: Actor, **metadata: Any) -> Any:
    return audit_event(
        tenant_id=tenant_id, action=action, resource=resource, actor=actor, metadata=metadata
    )


def _check(url: str, events: tuple[str, ...], description: str) -> None:
    if error := url_error(url):
        raise WebhookError(error, field="url")
    if not events or any(e not in EVENT_NAMES for e in events):
        raise WebhookError(f"Choose one or more of: {', '.join(EVENT_NAMES)}.", field="events")
    if len(description) > 500:
        raise WebhookError("At most 500 characters.", field="description")


def endpoint_create(
    *, tenant_id: str, url: str, events: tuple[str, ...], description: str, actor: Actor
) -> tuple[Endpoint, str]:
    """A new endpoint and its signing secret: the only time the secret is returned."""
    _check(url, events, description)
    if len(storage.config_get(tenant_id).endpoints) >= MAX_ENDPOINTS:
        raise EndpointLimit(f"A tenant has at most {MAX_ENDPOINTS} endpoints.", field="url")
    now = utcnow()
    secret = signing.new_secret()
    endpoint = Endpoint(
        tenant_id=tenant_id,
        endpoint_id=str(uuid.uuid4()),
        url=url,
        description=description,
        events=tuple(e for e in EVENT_NAMES if e in events),
        enabled=True,
        secrets=(Secret(secret, now),),
        created_at=now,
        updated_at=now,
    )
    event = _audit(
        tenant_id, "webhook.create", f"webhook/{endpoint.endpoint_id}", actor,
        url=url, events=list(endpoint.events),
    )  # fmt: skip
    transact([storage.endpoint_put(endpoint), audit_action(event)])
    return endpoint, secret


def endpoint_update(
    *,
    tenant_id: str,
    endpoint_id: str,
    actor: Actor,
    url: str | None = None,
    events: tuple[str, ...] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> Endpoint:
    """Change what is given; enabling again clears the failure record (re-enabled by hand)."""
    current = storage.endpoint_get(tenant_id, endpoint_id)
    changed = replace(
        current,
        url=current.url if url is None else url,
        events=current.events if events is None else tuple(e for e in EVENT_NAMES if e in events),
        description=current.description if description is None else description,
        enabled=current.enabled if enabled is None else enabled,
        updated_at=utcnow(),
        version=current.version + 1,
    )
    _check(changed.url, changed.events, changed.description)
    if enabled and not current.enabled:
        changed = replace(changed, failing_since=None, disabled_reason="")
    fields = {
        name: getattr(changed, name)
        for name in ("url", "description", "enabled")
        if getattr(changed, name) != getattr(current, name)
    }
    if changed.events != current.events:
        fields["events"] = list(changed.events)
    event = _audit(tenant_id, "webhook.update", f"webhook/{endpoint_id}", actor, **fields)
    _write(storage.endpoint_replace(changed, seen_version=current.version), event)
    return changed


def _write(action: Any, event: Any) -> None:
    try:
        transact([action, audit_action(event)])
    except TransactionConflict as exc:
        if exc.failed("endpoint"):
            raise WebhookError("The endpoint changed meanwhile: reload and try again.") from exc
        raise


def endpoint_delete(*, tenant_id: str, endpoint_id: str, actor: Actor) -> None:
    endpoint = storage.endpoint_get(tenant_id, endpoint_id)
    event = _audit(tenant_id, "webhook.delete", f"webhook/{endpoint_id}", actor, url=endpoint.url)
    _write(storage.endpoint_delete(tenant_id, endpoint_id), event)


def rotation(secrets: tuple[Secret, ...], now: datetime) -> tuple[tuple[Secret, ...], str]:
    """A new secret first; the previous one keeps signing for the grace period (24 h by
    default); older ones are dropped."""
    grace = now + timedelta(seconds=settings.OUTPOST_WEBHOOK_ROTATION_GRACE_SECONDS)
    fresh = signing.new_secret()
    kept = [replace(secrets[0], expires_at=grace)] if secrets else []
    return (Secret(fresh, now), *kept), fresh


def endpoint_rotate_secret(
    *, tenant_id: str, endpoint_id: str, actor: Actor
) -> tuple[Endpoint, str]:
    current = storage.endpoint_get(tenant_id, endpoint_id)
    now = utcnow()
    secrets, fresh = rotation(current.secrets, now)
    changed = replace(current, secrets=secrets, updated_at=now, version=current.version + 1)
    event = _audit(tenant_id, "webhook.rotate_secret", f"webhook/{endpoint_id}", actor)
    _write(storage.endpoint_replace(changed, seen_version=current.version), event)
    return changed, fresh


def callback_secret_rotate(*, tenant_id: str, actor: Actor) -> str:
    """The tenant's callback secret (signs its dispatches' callbackUrl deliveries), new; the
    previous one signs alongside it for the grace period."""
    secrets, fresh = rotation(storage.config_get(tenant_id).callback_secrets, utcnow())
    event = _audit(tenant_id, "webhook.rotate_callback_secret", "webhook/callback", actor)
    transact([storage.callback_secret_save(tenant_id, secrets, fresh=False), audit_action(event)])
    return fresh


def delivery_resend(*, tenant_id: str, endpoint_id: str, event_id: str, actor: Actor) -> None:
    """Send one delivery again now (same webhook-id), with a fresh retry schedule."""
    storage.endpoint_get(tenant_id, endpoint_id)  # a 404 for another tenant's
    if not delivery_storage.delivery_requeue(
        tenant_id, endpoint_id, event_id, now=utcnow(), only_failed=False
    ):
        raise NotFound(f"delivery {event_id}")
    audit_write(_audit(tenant_id, "webhook.resend", f"webhook/{endpoint_id}/{event_id}", actor))


def deliveries_recover(*, tenant_id: str, endpoint_id: str, since: datetime, actor: Actor) -> int:
    """Send again every delivery of the endpoint that failed, of events since `since`."""
    storage.endpoint_get(tenant_id, endpoint_id)
    now, count = utcnow(), 0
    for event_id in delivery_storage.failed_since(
        tenant_id=tenant_id, endpoint_id=endpoint_id, since=since
    ):
        count += delivery_storage.delivery_requeue(
            tenant_id, endpoint_id, event_id, now=now, only_failed=True
        )
    audit_write(
        _audit(
            tenant_id,
            "webhook.recover",
            f"webhook/{endpoint_id}",
            actor,
            since=since.isoformat(),
            deliveries=count,
        )
    )
    return count


def endpoint_send_test(*, tenant_id: str, endpoint_id: str, actor: Actor) -> Delivery:
    """A `webhook.test` event to this endpoint alone, delivered like any other."""
    endpoint = storage.endpoint_get(tenant_id, endpoint_id)
    now = utcnow()
    event_id = outbox.new_event_id()
    data = {"endpointId": endpoint_id, "message": "A test event from Outpost."}
    delivery = Delivery(
        tenant_id=tenant_id,
        endpoint_id=endpoint.endpoint_id,
        event_id=event_id,
        event_type=TEST_EVENT,
        dispatch_id="",
        status=DeliveryStatus.PENDING,
        created_at=now,
        body=payloads.body(event_type=TEST_EVENT, occurred_at=now, data=data),
    )
    event = _audit(tenant_id, "webhook.test", f"webhook/{endpoint_id}/{event_id}", actor)
    transact([delivery_storage.delivery_put(delivery, now=now), audit_action(event)])
    return delivery


def notify_update(
    *, tenant_id: str, on_failure: bool, streak: int, cooldown_minutes: int, actor: Actor
) -> None:
    if not 0 <= streak <= 100:
        raise WebhookError("Between 0 (off) and 100.", field="streak")
    if not 1 <= cooldown_minutes <= 7 * 24 * 60:
        raise WebhookError("Between 1 minute and 7 days.", field="cooldownMinutes")
    event = _audit(
        tenant_id, "webhook.notifications", "webhook/notifications", actor,
        onFailure=on_failure, streak=streak, cooldownMinutes=cooldown_minutes,
    )  # fmt: skip
    action = storage.notify_save(
        tenant_id, on_failure=on_failure, streak=streak, cooldown_seconds=cooldown_minutes * 60
    )
    transact([action, audit_action(event)])
