"""Usage pages: /usage/ (staff: every tenant or one; a tenant user: their own), its CSV, and
today's outcomes for the tenant home (loaded into it by htmx)."""

import csv
from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from dispatches.domain import DispatchStatus
from outpost_admin.agents import AGENTS
from outpost_admin.dynamo import utcnow
from outpost_admin.pages import render_page
from tenants import selectors as tenant_selectors
from tenants.access import portal_required, viewer_tenant_id
from tenants.domain import ApiKey, Tenant
from tenants.domain import Scope as KeyScope

from . import selectors as usage_selectors
from . import storage as usage_storage
from .charts import Chart, Series
from .figures import LIMITS, STATUSES, UsageReport
from .forms import UsageFilterForm


@dataclass(frozen=True)
class Scope:
    """What the viewer asked for and may see: a tenant (or all, for staff) and its keys."""

    form: UsageFilterForm
    tenant: Tenant | None
    keys: list[ApiKey]

    @property
    def tenant_id(self) -> str | None:
        return self.tenant.tenant_id if self.tenant else None


def _scope(request: HttpRequest) -> Scope:
    """A tenant user sees their own tenant; staff every tenant, or the one they name (by name,
    picked from the name index's suggestions, or by id)."""
    own = viewer_tenant_id(request)
    text = "" if own else request.GET.get("tenant", "").strip()[:200]
    if own:
        found = [tenant_selectors.tenant_get(tenant_id=own)]
    else:
        found = tenant_selectors.tenant_find(text=text) if text else []
    tenant = found[0] if len(found) == 1 else None
    keys = tenant_selectors.key_list(tenant_id=tenant.tenant_id) if tenant else []
    choices = [(k.api_key_id, f"{k.name} ({k.key_prefix}…)") for k in keys]
    form = UsageFilterForm(request.GET, keys=choices, staff=own is None)
    if text and tenant is None:
        message = "Several tenants have this name: pick one from the list." if found else None
        form.add_error("tenant", message or "No tenant has this name or id.")
    return Scope(form=form, tenant=tenant, keys=keys)


def _report(scope: Scope) -> UsageReport | None:
    if not scope.form.is_valid():
        return None
    data = scope.form.cleaned_data
    return usage_selectors.usage_report(
        tenant_id=scope.tenant_id,
        since=data["first"],
        until=data["last"],
        agent=data["agent"],
        key_id=data["key"],
        key_ids=[k.api_key_id for k in scope.keys],
    )


@portal_required
def usage_page(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    report = _report(scope)
    context: dict[str, Any] = {
        "form": scope.form,
        "report": report,
        "tenant": scope.tenant,
        "keys": scope.keys,
        "staff": request.user.is_staff,
        "charts": charts(report, key_names(scope.keys), per_key=bool(scope.tenant))
        if report
        else [],
        "export_url": f"{reverse('usage:export')}?{request.GET.urlencode()}",
    }
    status = 400 if scope.form.errors else 200
    return render_page(request, "usage/usage_page.html", context, status=status)


@portal_required
def usage_export(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    report = _report(scope)
    if report is None:
        errors = "; ".join(f"{f}: {' '.join(map(str, e))}" for f, e in scope.form.errors.items())
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="usage-{report.since}-{report.until}.csv"'
    )
    write_csv(response, report, key_names(scope.keys))
    return response


def key_names(keys: list[ApiKey]) -> dict[str, str]:
    return {k.api_key_id: k.name or k.key_prefix for k in keys}


def charts(report: UsageReport, names: dict[str, str], *, per_key: bool) -> list[Chart]:
    days = [d.day for d in report.days]

    def bars(chart_id: str, title: str, field: str, series: list[tuple[str, str]]) -> Chart:
        return Chart(
            chart_id,
            title,
            days,
            [
                Series(label, [getattr(d, field).get(k, 0) for d in report.days])
                for k, label in series
            ],
        )

    result = [
        bars("by-status", "Dispatches per day by status", "by_status", [(s, s) for s in STATUSES]),
        bars(
            "by-agent", "Dispatches per day by agent", "by_agent", [(a, a) for a in report.agents]
        ),
        bars(
            "rejections", "Refused per day (429), by limit", "rejections", [(x, x) for x in LIMITS]
        ),
    ]
    if per_key:
        keys = [(k, names.get(k, "no key" if k == "-" else k[:8])) for k in report.keys]
        result.append(bars("by-key", "Dispatches per day by API key", "by_key", keys))
    result += _spend_charts(report, names, per_key=per_key)
    for which in ("p50", "p95"):
        series = [
            Series(a, [_seconds(d, a, which) for d in report.days])
            for a in sorted(report.totals.run_time)
        ]
        result.append(
            Chart(f"run-{which}", f"Run time {which} per agent (s)", days, series, "line", " s")
        )
    return result


def _spend_charts(report: UsageReport, names: dict[str, str], *, per_key: bool) -> list[Chart]:
    """Spend per day (USD, of the dispatches that ended that day), stacked by agent, by model
    and (one tenant's page) by key."""
    days = [d.day for d in report.days]
    dimensions = [("agent", "agent"), ("model", "model")] + (
        [("key", "API key")] if per_key else []
    )
    result = []
    for dimension, label in dimensions:
        spent = [d.spend_usd_by(dimension) for d in report.days]
        shown = sorted({name for day in spent for name, usd in day.items() if usd})
        series = [
            Series(
                names.get(n, "no key" if n == "-" else n[:8]) if dimension == "key" else n,
                [day.get(n, 0) for day in spent],
            )
            for n in shown
        ]
        title = f"Spend per day by {label} (USD)"
        result.append(Chart(f"spend-by-{dimension}", title, days, series))
    return result


def _seconds(day: Any, agent: str, which: str) -> float | None:
    run = day.run_time.get(agent)
    return getattr(run, which) if run else None


CSV_STATUSES = [f"status_{s}" for s in STATUSES]


def write_csv(out: Any, report: UsageReport, names: dict[str, str]) -> None:
    """One row per day: what the charts show, in the same numbers."""
    writer = csv.writer(out)
    agents = list(AGENTS)
    keys = [k for k in report.keys if k != "-"]
    writer.writerow(
        [
            "day",
            "dispatches",
            *CSV_STATUSES,
            *(f"agent_{a}" for a in agents),
            *(f"rejected_{x}" for x in LIMITS),
            *(f"run_{p}_{a}_s" for a in agents for p in ("p50", "p95")),
            *(f"key_{names.get(k, k)}" for k in keys),
            "spend_usd",
            *(f"spend_usd_{a}" for a in agents),
        ]
    )
    for day in report.days:
        runs = [_seconds(day, a, p) for a in agents for p in ("p50", "p95")]
        writer.writerow(
            [
                day.day.isoformat(),
                day.dispatches,
                *(day.by_status.get(s, 0) for s in STATUSES),
                *(day.by_agent.get(a, 0) for a in agents),
                *(day.rejections.get(x, 0) for x in LIMITS),
                *("" if r is None else f"{r:g}" for r in runs),
                *(day.by_key.get(k, 0) for k in keys),
                _usd(day.spend),
                *(_usd(day.spend_by_agent.get(a, 0)) for a in agents),
            ]
        )


def _usd(micros: int) -> str:
    """To the microdollar, as the dispatches' costs are kept."""
    return f"{micros / 1_000_000:.6f}"


@portal_required
def usage_today(request: HttpRequest) -> HttpResponse:
    """A tenant user's outcomes today (UTC), by status: one BatchGetItem of their day items."""
    tenant_id = viewer_tenant_id(request)
    if tenant_id is None:
        raise Http404
    day = usage_storage.usage_get(tenant_id, utcnow().date())
    names = {s.value.lower(): s.api_value for s in DispatchStatus}  # the API's names
    finished = [(names[k], n) for k, n in sorted(day.by_status.items()) if k in names and n]
    return render(request, "usage/_today.html", {"finished": finished})


@portal_required
def key_page(request: HttpRequest, key_id: str) -> HttpResponse:
    """One key: its scopes, first and last use, its dispatches per day by outcome and its
    refusals by limit (its month items) and the last requests made with it. Staff see any
    key; a tenant user only their tenant's (another's is a 404). GetItem + BatchGetItem."""
    key = tenant_selectors.key_by_id(api_key_id=key_id, tenant_id=viewer_tenant_id(request))
    activity = usage_selectors.key_activity(tenant_id=key.tenant_id, api_key_id=key_id)
    report = activity.report
    days = [d.day for d in report.days]
    context = {
        "key": key,
        "state": key.state(utcnow()),
        "operator": KeyScope.OPERATOR in key.scopes,
        "tenant_name": activity.tenant_name,
        "staff": request.user.is_staff,
        "report": report,
        "requests": activity.requests,
        "charts": [
            _per_day("by-outcome", "Dispatches per day by outcome", days, report, "by_status"),
            _per_day("refusals", "Refused per day (429), by limit", days, report, "rejections"),
        ],
    }
    return render_page(request, "usage/key_page.html", context)


def _per_day(chart_id: str, title: str, days: list, report: UsageReport, field: str) -> Chart:
    names = STATUSES if field == "by_status" else LIMITS
    series = [Series(n, [getattr(d, field).get(n, 0) for d in report.days]) for n in names]
    return Chart(chart_id, title, days, series)
