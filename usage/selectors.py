"""Usage over a range of days, for the pages, the CSV and the APIs. Reads roll-ups only."""

from dataclasses import replace
from datetime import date

from . import storage
from .figures import Filters, TopTenant, UsageReport, days_between, report

TOP_TENANTS = 10


def usage_report(
    *, tenant_id: str | None, since: date, until: date, agent: str = "", key_id: str = ""
) -> UsageReport:
    """One tenant's usage (its own day items), or every tenant's (the day shards) for staff.

    Calls depend on the number of days only: ceil(days / 100) for a tenant,
    ceil(days * shards / 100) plus one for the top tenants' names across tenants.
    """
    days = days_between(since, until)
    filters = Filters(agent=agent, key_id=key_id)
    if tenant_id:
        return report(since, until, storage.tenant_cells(tenant_id, days), filters)
    result = report(since, until, storage.global_cells(days), filters)
    return replace(result, top_tenants=_top_tenants(result))


def _top_tenants(result: UsageReport) -> list[TopTenant]:
    ranked = sorted(result.totals.by_tenant.items(), key=lambda kv: (-kv[1], kv[0]))
    top = [(t, n) for t, n in ranked if n][:TOP_TENANTS]
    names = storage.tenant_names([t for t, _ in top]) if top else {}
    return [TopTenant(t, names.get(t, ""), n) for t, n in top]
