"""Reads for tenants, keys, audit and usage. Every function is keyword-only."""

import uuid
from collections.abc import Iterator
from typing import Any

from outpost_admin.audit import AuditEvent, audit_list
from outpost_admin.dynamo import NotFound, Page, from_item, utcnow

from . import budgets, counters, storage
from .domain import ApiKey, Tenant

__all__ = [
    "audit_iter",
    "audit_list",
    "budget_get",
    "dispatches_today",
    "key_budgets",
    "key_by_id",
    "key_get",
    "key_list",
    "operator_keys",
    "tenant_get",
    "tenant_list",
    "tenant_list_whole",
]


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


def tenant_list_whole(**filters: Any) -> Page[Tenant]:
    """tenant_list with every tenant whole (limits, usage): the list's index holds only what
    the list page shows, so one more BatchGetItem reads the page's tenants."""
    page = tenant_list(**filters)
    whole = storage.tenant_get_many([t.tenant_id for t in page.items]) if page.items else {}
    return Page([whole.get(t.tenant_id, t) for t in page.items], page.cursor)


def tenant_names(*, tenant_ids: list[str]) -> dict[str, str]:
    """Names for ids shown on a page: one BatchGetItem per 100 tenants, none for none."""
    return storage.tenant_names(tenant_ids) if tenant_ids else {}


def tenant_find(*, text: str) -> list[Tenant]:
    """Tenants a filter names: by id, or by exact name (case-insensitive) via the name index.

    Exact names sort first among the names they prefix, so the first few prefix hits hold them.
    """
    text = text.strip()
    try:
        return [storage.tenant_get(str(uuid.UUID(text)))]
    except ValueError:
        pass
    except NotFound:
        return []
    hits = storage.tenant_list(search=text, limit=10).items
    return [t for t in hits if t.name.lower() == text.lower()]


def key_get(*, tenant_id: str, api_key_id: str) -> ApiKey:
    """A key of this tenant; another tenant's key is NotFound, like a missing one."""
    key = storage.key_get(api_key_id)
    if key.tenant_id != tenant_id:
        raise NotFound(f"key {api_key_id}")
    return key


def key_by_id(*, api_key_id: str, tenant_id: str | None) -> ApiKey:
    """A key by its id: any tenant's for staff (`tenant_id` None), else only that tenant's
    (another tenant's key is NotFound, like a missing one)."""
    key = storage.key_get(api_key_id)
    if tenant_id is not None and key.tenant_id != tenant_id:
        raise NotFound(f"key {api_key_id}")
    return key


def operator_keys() -> list[tuple[ApiKey, str]]:
    """Every operator key issued here (the newest 100), with its tenant's name: staff only."""
    return storage.operator_keys()


def key_list(*, tenant_id: str) -> list[ApiKey]:
    return storage.keys_for_tenant(tenant_id)


def audit_iter(*, limit: int, **filters: Any) -> Iterator[AuditEvent]:
    """The records a filter matches, page after page, at most `limit` (for a CSV export)."""
    cursor, shown = None, 0
    while shown < limit:
        page = audit_list(cursor=cursor, limit=min(100, limit - shown), **filters)
        yield from page.items
        shown += len(page.items)
        if not page.cursor:
            return
        cursor = page.cursor


def dispatches_today(*, tenant_id: str) -> int:
    """The daily limit's count for today (UTC); the breakdowns are the usage app's."""
    return counters.quota_day_count(tenant_id, utcnow().date())


def tenant_home(*, tenant_id: str) -> tuple[Tenant, int, budgets.Budget]:
    """What a tenant's home shows first: the tenant, today's daily-limit count and its
    budget with this month's spend, in one consistent BatchGetItem."""
    now = utcnow()
    tenant, today, item = storage.tenant_home_items(
        tenant_id, now.date(), budgets.budget_key(tenant_id)
    )
    return tenant, today, budgets.from_image(from_item(item), budgets.month_of(now))


def budget_get(*, tenant_id: str, api_key_id: str = "") -> budgets.Budget:
    """The tenant's (or a key's) budget and this month's spend."""
    return budgets.budget_get(tenant_id, api_key_id=api_key_id, now=utcnow())


def key_budgets(*, tenant_id: str) -> list[budgets.Budget]:
    """The tenant's keys' budget items (a key with a budget or spend), by key id."""
    found = budgets.key_budgets(tenant_id, now=utcnow())
    return [found[k] for k in sorted(found)]
