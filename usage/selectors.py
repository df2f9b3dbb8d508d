"""Usage over a range of days, for the pages, the CSV and the APIs. Reads roll-ups only."""

from dataclasses import dataclass, replace
from datetime import date, timedelta

from outpost_admin.dynamo import utcnow
from tenants import selectors as tenant_selectors
from tenants.key_requests import KeyRequest

from . import storage
from .figures import Cells, Filters, TopTenant, UsageReport, days_between, report, top_exact

TOP_TENANTS = 10


def usage_report(
    *,
    tenant_id: str | None,
    since: date,
    until: date,
    agent: str = "",
    key_id: str = "",
    key_ids: list[str] | None = None,
) -> UsageReport:
    """One tenant's usage (its own items), or every tenant's (the day shards) for staff.

    A tenant's per-key figures come from its keys' month items: those of `key_ids` (the
    tenant's keys, listed here when not given), or of `key_id` alone when filtering by it.
    Calls depend on the days and the keys, never on the dispatches: one BatchGetItem per
    100 of 2 keys a day plus (keys x months); across tenants, one per 100 of 16 keys a day
    (day shards and their top items) plus one for the top tenants' names.
    """
    days = days_between(since, until)
    filters = Filters(agent=agent, key_id=key_id)
    if tenant_id:
        if key_id:
            key_ids = [key_id]
        elif key_ids is None:
            key_ids = [k.api_key_id for k in tenant_selectors.key_list(tenant_id=tenant_id)]
        cells = storage.tenant_cells(tenant_id, days, key_ids)
        return report(since, until, cells, filters)
    by_day = storage.global_cells(days, top=True)
    result = report(since, until, by_day, filters)
    return replace(result, **_top_tenants(result, list(by_day.values())))


def _top_tenants(result: UsageReport, days: list[Cells]) -> dict:
    ranked = sorted(result.totals.by_tenant.items(), key=lambda kv: (-kv[1], kv[0]))
    top = [(t, n) for t, n in ranked if n][:TOP_TENANTS]
    names = storage.tenant_names([t for t, _ in top]) if top else {}
    return {
        "top_tenants": [TopTenant(t, names.get(t, ""), n) for t, n in top],
        "top_tenants_exact": top_exact(days, top),
    }


KEY_DAYS = 30


@dataclass(frozen=True)
class KeyActivity:
    report: UsageReport
    requests: list[KeyRequest]  # newest first, at most key_requests.RECENT_REQUESTS
    tenant_name: str


def key_activity(*, tenant_id: str, api_key_id: str, days: int = KEY_DAYS) -> KeyActivity:
    """One key's last `days` days (UTC) by outcome and refusals, from its month items, and
    the requests made with it: one BatchGetItem, whatever its use."""
    until = utcnow().date()
    since = until - timedelta(days=days - 1)
    cells, requests, name = storage.key_cells(tenant_id, api_key_id, days_between(since, until))
    result = report(since, until, cells, Filters(key_id=api_key_id))
    return KeyActivity(report=result, requests=requests, tenant_name=name)
