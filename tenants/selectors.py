"""Reads for tenants, keys, audit and usage. Every function is keyword-only."""

from datetime import date

from outpost_admin.dynamo import NotFound, Page, utcnow

from . import storage
from .domain import ApiKey, AuditEvent, DailyUsage, Tenant


def tenant_get(*, tenant_id: str) -> Tenant:
    return storage.tenant_get(tenant_id)


def tenant_list(
    *,
    search: str = "",
    status: str = "",
    tier: str = "",
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Tenant]:
    search = search.strip()
    if "@" in search:
        tenant_id = storage.tenant_id_by_email(search)
        tenants = [storage.tenant_get(tenant_id)] if tenant_id else []
        tenants = [
            t
            for t in tenants
            if (not status or t.status == status) and (not tier or t.tier == tier)
        ]
        return Page(tenants)
    return storage.tenant_list(search=search, status=status, tier=tier, cursor=cursor, limit=limit)


def key_get(*, tenant_id: str, api_key_id: str) -> ApiKey:
    """A key of this tenant; another tenant's key is NotFound, like a missing one."""
    key = storage.key_get(api_key_id)
    if key.tenant_id != tenant_id:
        raise NotFound(f"key {api_key_id}")
    return key


def key_list(*, tenant_id: str) -> list[ApiKey]:
    return storage.keys_for_tenant(tenant_id)


def audit_list(
    *,
    tenant_id: str = "",
    day: date | None = None,
    action: str = "",
    cursor: str | None = None,
    limit: int = 50,
) -> Page[AuditEvent]:
    return storage.audit_list(
        tenant_id=tenant_id, day=day, action=action, cursor=cursor, limit=limit
    )


def usage_today(*, tenant_id: str) -> DailyUsage:
    return storage.usage_get(tenant_id, utcnow().date())
