"""Dispatch pages for tenant users (their own tenant) and staff (every tenant)."""

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from outpost_admin.actors import actor_from
from outpost_admin.dynamo import Page, utcnow
from outpost_admin.pages import portal_required, render_page, staff_required, viewer_tenant_id
from tenants import selectors as tenant_selectors

from . import selectors, services
from .domain import Dispatch, DispatchStatus, InvalidTransition
from .forms import DispatchFilterForm, StaffDispatchFilterForm

PAGE_SIZE = 25
RECENT = 10


@portal_required
def tenant_home(request: HttpRequest) -> HttpResponse:
    tenant_id = viewer_tenant_id(request)
    if tenant_id is None:  # staff have no home tenant; they start from the tenants list
        return redirect("tenants:list")
    usage = tenant_selectors.usage_today(tenant_id=tenant_id)
    context = {
        "tenant": tenant_selectors.tenant_get(tenant_id=tenant_id),
        "usage": usage,
        "finished": _finished_today(usage.by_status),
        "dispatches": selectors.dispatch_list(tenant_id=tenant_id, limit=RECENT).items,
    }
    return render_page(request, "dispatches/tenant_home.html", context)


def _finished_today(by_status: dict[str, int]) -> list[tuple[str, int]]:
    names = {s.value.lower(): s.api_value for s in DispatchStatus}
    return [(names[k], n) for k, n in sorted(by_status.items()) if k in names and n]


@portal_required
def dispatch_list(request: HttpRequest) -> HttpResponse:
    scope = viewer_tenant_id(request)
    form = (StaffDispatchFilterForm if scope is None else DispatchFilterForm)(request.GET)
    today = utcnow().date()
    page = _history(form.cleaned_data, scope, today) if form.is_valid() else None
    context = {"form": form, "page": page, "show_tenant": scope is None, "today": today}
    if scope is None and not request.GET.get("tenant") and not request.GET.get("day"):
        context["pinned_day"] = today  # "Load more" stays on this day after midnight
    partial = "rows" if request.GET.get("cursor") else "content"
    return render_page(request, "dispatches/dispatch_list.html", context, partial=partial)


def _history(data: dict[str, Any], scope: str | None, today: date) -> Page[Dispatch]:
    """The tenant user's own history; for staff, one tenant's, or every tenant's for one day."""
    common = {
        "status": data["status"],
        "agent": data["agent"],
        "repo": data["repo"],
        "cursor": data["cursor"] or None,
        "limit": PAGE_SIZE,
    }
    tenant_id = scope or (str(data["tenant"]) if data.get("tenant") else "")
    if tenant_id:
        return selectors.dispatch_list(
            tenant_id=tenant_id, since=data["since"], until=data["until"], **common
        )
    return selectors.dispatch_list_day(day=data.get("day") or today, **common)


@staff_required
def tenant_dispatches(request: HttpRequest, tenant_id: str) -> HttpResponse:
    """The recent dispatches section of a tenant's staff page, loaded by htmx."""
    if not getattr(request, "htmx", False):
        return redirect(f"{reverse('dispatches:list')}?tenant={tenant_id}")
    context = {
        "dispatches": selectors.dispatch_list(tenant_id=tenant_id, limit=RECENT).items,
        "show_tenant": True,  # staff rows always carry it, polled ones included
    }
    return render(request, "dispatches/_dispatch_table.html", context)


@portal_required
def dispatch_detail(request: HttpRequest, dispatch_id: str) -> HttpResponse:
    return render_page(request, "dispatches/dispatch_detail.html", _detail(request, dispatch_id))


@portal_required
def dispatch_live(request: HttpRequest, dispatch_id: str) -> HttpResponse:
    """Status, timeline and log tail: polled by the dispatch page until the dispatch ends."""
    return render(request, "dispatches/dispatch_detail.html#live", _detail(request, dispatch_id))


def _detail(request: HttpRequest, dispatch_id: str) -> dict[str, Any]:
    scope = viewer_tenant_id(request)
    dispatch = services.dispatch_get(tenant_id=scope, dispatch_id=dispatch_id)
    return {
        "dispatch": dispatch,
        "show_tenant": scope is None,
        "timeline": timeline(dispatch, now=utcnow()),
        "log": selectors.log_tail_text(dispatch_id=dispatch_id),
    }


@portal_required
def dispatch_row(request: HttpRequest, dispatch_id: str) -> HttpResponse:
    """One history row, polled while the dispatch is pending or running."""
    scope = viewer_tenant_id(request)
    dispatch = services.dispatch_get(tenant_id=scope, dispatch_id=dispatch_id)
    context = {"dispatch": dispatch, "show_tenant": scope is None}
    return render(request, "dispatches/_dispatch_row.html", context)


@portal_required
@require_http_methods(["GET", "POST"])
def dispatch_cancel(request: HttpRequest, dispatch_id: str) -> HttpResponse:
    """GET asks for confirmation; POST cancels. A finished dispatch answers 409."""
    scope = viewer_tenant_id(request)
    dispatch = services.dispatch_get(tenant_id=scope, dispatch_id=dispatch_id)
    error = str(InvalidTransition(dispatch.status)) if dispatch.status.is_terminal else ""
    if request.method == "POST" and not error:
        try:
            services.dispatch_cancel(dispatch=dispatch, actor=actor_from(request))
        except InvalidTransition as exc:
            error = str(exc)
        else:
            return redirect("dispatches:detail", dispatch_id=dispatch_id)
    context = {"dispatch": dispatch, "error": error}
    return render_page(
        request, "dispatches/dispatch_cancel.html", context, status=409 if error else 200
    )


def timeline(d: Dispatch, *, now: datetime) -> list[tuple[str, datetime | None, str]]:
    """Created, started, ended, each with how long the step before it took."""
    started, ended = d.claimed_at, d.ended_at
    if started:
        ran = (
            f"ran {duration(started, ended)}" if ended else f"running for {duration(started, now)}"
        )
    else:
        ran = f"{duration(d.started_at, ended)} after creation" if ended else ""
    return [
        ("Created", d.started_at, ""),
        ("Started", started, f"queued {duration(d.started_at, started)}" if started else ""),
        ("Ended", ended, ran),
    ]


def duration(start: datetime, end: datetime) -> str:
    if start.tzinfo is None or end.tzinfo is None:  # a record without a usable timestamp
        return "?"
    seconds = max(0.0, (end - start).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"
