"""Every read of a tenant's webhooks (the tenant comes from the principal or the page's
authorization, never from the caller's body)."""

from outpost_admin.dynamo import Page

from . import delivery_storage, storage
from .domain import Attempt, Delivery, Endpoint, NotifySettings


def endpoint_list(*, tenant_id: str) -> list[Endpoint]:
    return sorted(storage.config_get(tenant_id).endpoints, key=lambda e: e.created_at)


def endpoint_get(*, tenant_id: str, endpoint_id: str) -> Endpoint:
    return storage.endpoint_get(tenant_id, endpoint_id)


def notify_get(*, tenant_id: str) -> NotifySettings:
    return storage.config_get(tenant_id).notify


def has_callback_secret(*, tenant_id: str) -> bool:
    return bool(storage.config_get(tenant_id).callback_secrets)


def delivery_list(
    *, tenant_id: str, endpoint_id: str, cursor: str | None = None, limit: int = 25
) -> Page[Delivery]:
    return delivery_storage.delivery_list(
        tenant_id=tenant_id, endpoint_id=endpoint_id, cursor=cursor, limit=limit
    )


def delivery_get(
    *, tenant_id: str, endpoint_id: str, event_id: str
) -> tuple[Delivery, list[Attempt]]:
    delivery = delivery_storage.delivery_get(
        tenant_id=tenant_id, endpoint_id=endpoint_id, event_id=event_id
    )
    attempts = delivery_storage.attempt_list(
        tenant_id=tenant_id, endpoint_id=endpoint_id, event_id=event_id
    )
    return delivery, attempts
