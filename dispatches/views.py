"""Dispatch pages for tenant users (their own tenant) and staff (every tenant)."""

import re
import secrets
import uuid
from datetime import date, datetime
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from outpost_admin.actors import actor_from
from outpost_admin.audit import Actor
from outpost_admin.converters import DispatchIdConverter
from outpost_admin.dynamo import Page, utcnow
from outpost_admin.pages import render_page, staff_required
from outpost_admin.templatetags.outpost import duration
from tenants import budgets
from tenants import selectors as tenant_selectors
from tenants.access import portal_required, viewer_tenant_id
from tenants.domain import Limits
from tenants.forms import tenant_filter_id

from . import history_index, lifecycle, saved_views, selectors
from .domain import (
    BudgetExceeded,
    Dispatch,
    IdempotencyInFlight,
    IdempotencyMismatch,
    InvalidTransition,
    QuotaExceeded,
    RowFilters,
    StillActive,
    TenantNotActive,
    log_lines,
)
from .forms import DispatchFilterForm, RerunForm, StaffDispatchFilterForm

PAGE_SIZE = 25
# A filtered history page reads on until its page is full, within this bound (stated on the
# page): up to FILTER_READS Queries of FILTER_READ_SIZE dispatches each, never a Scan.
FILTER_READS, FILTER_READ_SIZE = 4, 100
BULK_MAX = 100  # rows cancelled with one confirmation (one BatchGetItem)
RECENT = 10
LOG_TAIL = 50  # chunks on the page at first; the rest is a download away
LOG_PAGE = 200  # chunks per poll of the log (storage.log_after's limit)


@portal_required
def tenant_home(request: HttpRequest) -> HttpResponse:
    tenant_id = viewer_tenant_id(request)
    if tenant_id is None:  # staff have no home tenant; they start from the tenants list
        return redirect("tenants:list")
    tenant, today, budget = tenant_selectors.tenant_home(tenant_id=tenant_id)
    context = {
        "tenant": tenant,
        "dispatches_today": today,
        "dispatches": selectors.dispatch_list(tenant_id=tenant_id, limit=RECENT).items,
        "live_url": _live_url(request, limit=RECENT),
        "budget": budget,
        "projection": budget.projection(utcnow()),
    }
    return render_page(request, "dispatches/tenant_home.html", context)


@portal_required
def dispatch_list(request: HttpRequest) -> HttpResponse:
    scope = viewer_tenant_id(request)
    form = (StaffDispatchFilterForm if scope is None else DispatchFilterForm)(request.GET)
    today = utcnow().date()
    context: dict[str, Any] = {"form": form, "show_tenant": scope is None, "today": today}
    tenant_id = scope or (tenant_filter_id(form) if form.is_valid() else "")
    if form.is_valid():
        page = _history(form.cleaned_data, tenant_id, today, search=True, more=form.row_filters())
        rows = _sorted(page.items, form.cleaned_data["sort"])
        context.update(page=page, dispatches=rows, **_names(scope, page.items))
        context.update(_search_bound(form.cleaned_data, tenant_id, page))
        if not form.cleaned_data["sort"]:  # new rows go on top: only newest first follows
            context["live_url"] = _live_url(request, tenant_id=tenant_id if scope is None else "")
        context["tenant_name"] = context.get("tenant_names", {}).get(tenant_id, "")
        context["thin_rows"] = not tenant_id  # every tenant's index holds no tags nor keys
    if scope is None and not any(request.GET.get(f) for f in ("tenant", "day", "since", "period")):
        context["pinned_day"] = today  # "Load more" stays on this day after midnight
    if request.GET.get("cursor") and getattr(request, "htmx", False):
        context["more_page"] = True
        context["bulk"] = True  # the rows of the page's table, whose first column selects
        return render(request, "dispatches/_dispatch_table.html#rows", context)
    query = saved_views.filter_query(request.GET, staff=scope is None)
    context.update(saved_views.sidebar(request, query=query), view_query=query)
    context["bulk_scope"] = bool(tenant_id)  # bulk by filter: one tenant's history
    return render_page(request, "dispatches/dispatch_list.html", context)


def _live_url(request: HttpRequest, *, tenant_id: str = "", limit: int = 0) -> str:
    """Where a history table asks for its refresh: the same filters (the tenant as an id)."""
    query = request.GET.copy()
    for name in ("cursor", "tenant"):
        query.pop(name, None)
    if tenant_id:
        query["tenant"] = tenant_id
    query["limit"] = str(limit or PAGE_SIZE)
    return f"{reverse('dispatches:live-rows')}?{query.urlencode()}"


@portal_required
def dispatch_live_rows(request: HttpRequest) -> HttpResponse:
    """One request per refresh of a whole history table: the newest rows of its filters (the
    page prepends those it lacks) and the current state of the unfinished rows it names in
    `ids` (it replaces them). A Query, a BatchGetItem, and for staff one for the names."""
    scope = viewer_tenant_id(request)
    form = (StaffDispatchFilterForm if scope is None else DispatchFilterForm)(request.GET)
    limit = _bounded_int(request.GET.get("limit"), default=PAGE_SIZE, high=PAGE_SIZE)
    tenant_id = scope or _tenant_uuid(request.GET.get("tenant", ""))
    if not form.is_valid() or tenant_id is None:
        return HttpResponse("Bad filters.", status=400, content_type="text/plain")
    data = {**form.cleaned_data, "cursor": ""}
    newest = _history(data, tenant_id, utcnow().date(), limit=limit, more=form.row_filters()).items
    shown = {d.dispatch_id for d in newest}
    ids = [i for i in request.GET.get("ids", "").split(",") if _DISPATCH_ID.fullmatch(i)]
    refreshed = selectors.dispatch_refresh(
        tenant_id=scope, dispatch_ids=[i for i in ids if i not in shown]
    )
    rows = newest + refreshed
    context = {"dispatches": rows, "show_tenant": scope is None, **_names(scope, rows)}
    context["bulk"] = request.GET.get("bulk") == "1"
    context["thin_rows"] = not tenant_id
    return render(request, "dispatches/_dispatch_table.html#live-rows", context)


_DISPATCH_ID = re.compile(DispatchIdConverter.regex)


def _tenant_uuid(text: str) -> str | None:
    """A staff refresh names its tenant by id (the page looked the name up once): "" for none,
    None for something that is not an id."""
    if not text:
        return ""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def _bounded_int(text: str | None, *, default: int, high: int) -> int:
    try:
        return min(max(1, int(text or default)), high)
    except ValueError:
        return default


def _names(scope: str | None, dispatches: list[Dispatch]) -> dict[str, Any]:
    """Staff see tenants by name: one BatchGetItem for the tenants on the page."""
    if scope is not None:
        return {}
    ids = sorted({d.tenant_id for d in dispatches})
    return {"tenant_names": tenant_selectors.tenant_names(tenant_ids=ids)}


def _filtered(data: dict[str, Any]) -> bool:
    return any(data.get(name) for name in ("status", "agent", "repo", "tag", "key"))


def _sorted(rows: list[Dispatch], sort: str) -> list[Dispatch]:
    """Longest first sorts the page read (no index orders by duration: stated on the page)."""
    if sort != "duration":
        return rows
    now = utcnow()
    return sorted(rows, key=lambda d: _ran(d, now), reverse=True)


def _ran(d: Dispatch, now: datetime) -> float:
    start = d.claimed_at or d.started_at
    return ((d.ended_at or now) - start).total_seconds() if start.tzinfo else 0.0


def _history(
    data: dict[str, Any],
    tenant_id: str,
    today: date,
    *,
    limit: int = 0,
    search: bool = False,
    more: RowFilters | None = None,
) -> Page[Dispatch]:
    """One tenant's history; for staff without a tenant, every tenant's for a day or a range.
    With `search` and filters, a page reads on until it is full, within FILTER_READS reads
    of FILTER_READ_SIZE (for every tenant's: of each shard of the history index)."""
    common = {
        "status": data["status"],
        "agent": data["agent"],
        "repo": data["repo"],
        "cursor": data["cursor"] or None,
        "limit": limit or PAGE_SIZE,
    }
    searching = search and _filtered(data)
    size = FILTER_READ_SIZE if searching else 0
    reads = FILTER_READS if searching else 1
    if data.get("since") and not tenant_id:
        until = data.get("until") or utcnow()
        return selectors.dispatch_list_range(
            since=data["since"], until=until, max_reads=reads, read_size=size, **common
        )
    if tenant_id:
        return selectors.dispatch_list(
            tenant_id=tenant_id,
            since=data["since"],
            until=data["until"],
            max_reads=reads,
            read_size=size,
            more=more,
            **common,
        )
    return selectors.dispatch_list_day(
        day=data.get("day") or today, max_reads=reads, read_size=size, **common
    )


def _search_bound(data: dict[str, Any], tenant_id: str, page: Page[Dispatch]) -> dict[str, str]:
    """What a filtered page says about the range it searched, and its empty row."""
    if not _filtered(data):
        return {}  # the table's own empty row: how the first dispatch gets here
    if not tenant_id:  # every tenant's: the shards of the history index, read together
        shards = len(history_index.shards())
        searched = f"up to {FILTER_READS * FILTER_READ_SIZE} dispatches in each of {shards} shards"
        bound = f"{searched}, newest first, in at most {FILTER_READS} reads of each shard"
    else:
        searched = f"up to {FILTER_READS * FILTER_READ_SIZE} dispatches"
        bound = f"{searched}, newest first, in at most {FILTER_READS} reads"
    text = f"Filters are applied on the server: each page searches {bound}."
    empty = "No dispatches match."
    if page.cursor:
        empty = f"No dispatches match among the {searched} searched: Load more searches on."
    return {"search_bound": text, "empty_text": empty}


@staff_required
def tenant_dispatches(request: HttpRequest, tenant_id: str) -> HttpResponse:
    """The recent dispatches section of a tenant's staff page, loaded by htmx."""
    if not getattr(request, "htmx", False):
        return redirect(f"{reverse('dispatches:list')}?tenant={tenant_id}")
    dispatches = selectors.dispatch_list(tenant_id=tenant_id, limit=RECENT).items
    context = {"dispatches": dispatches, "show_tenant": True, **_names(None, dispatches)}
    context["live_url"] = _live_url(request, tenant_id=tenant_id, limit=RECENT)
    return render(request, "dispatches/_dispatch_table.html", context)


@portal_required
def dispatch_detail(request: HttpRequest, dispatch_id: str) -> HttpResponse:
    context = _detail(request, dispatch_id)
    chunks = selectors.log_tail(dispatch_id=dispatch_id, chunks=LOG_TAIL)
    lines = log_lines(chunks)
    context.update(
        log_lines=lines,
        log_seq=chunks[-1].seq if chunks else -1,
        log_cut=bool(chunks) and chunks[0].seq > 0,
        log_untimed=any(line.at is None for line in lines),
    )
    return render_page(request, "dispatches/dispatch_detail.html", context)


@portal_required
def dispatch_live(request: HttpRequest, dispatch_id: str) -> HttpResponse:
    """Status, timeline and log tail: polled by the dispatch page until the dispatch ends."""
    context = _detail(request, dispatch_id)
    return render(request, "dispatches/dispatch_detail.html#live-update", context)


def _detail(request: HttpRequest, dispatch_id: str) -> dict[str, Any]:
    scope = viewer_tenant_id(request)
    dispatch = selectors.dispatch_get(tenant_id=scope, dispatch_id=dispatch_id)
    return {
        "dispatch": dispatch,
        "show_tenant": scope is None,
        **_names(scope, [dispatch]),
        "timeline": timeline(dispatch, now=utcnow()),
    }


@portal_required
def dispatch_log(request: HttpRequest, dispatch_id: str) -> HttpResponse:
    """The output written after chunk `after` (JSON), polled by the dispatch page's log."""
    scope = viewer_tenant_id(request)
    dispatch = selectors.dispatch_get(tenant_id=scope, dispatch_id=dispatch_id)
    try:
        after = int(request.GET.get("after", "-1"))
    except ValueError:
        return JsonResponse({"error": "after must be a whole number"}, status=400)
    chunks = selectors.log_after(dispatch_id=dispatch_id, after=after)
    body = {
        "seq": chunks[-1].seq if chunks else after,
        "text": "".join(c.text for c in chunks),
        # [epoch ms or null (written before times were kept), text]; a first line that
        # continues the page's last one is joined to it by the page.
        "lines": [[_ms(line.at), line.text] for line in log_lines(chunks)],
        "done": dispatch.status.is_terminal and len(chunks) < LOG_PAGE,
    }
    return JsonResponse(body)


def _ms(at: datetime | None) -> int | None:
    return int(at.timestamp() * 1000) if at else None


@portal_required
def dispatch_log_download(request: HttpRequest, dispatch_id: str) -> HttpResponse:
    """The whole captured output as a text file; with `times=1`, each line after the UTC time
    it began (a dash where none was recorded)."""
    scope = viewer_tenant_id(request)
    selectors.dispatch_get(tenant_id=scope, dispatch_id=dispatch_id)
    chunks = list(selectors.log_all(dispatch_id=dispatch_id))  # at most LOG_MAX_BYTES
    if request.GET.get("times") == "1":
        text = "".join(f"{_stamp(line.at)} {line.text}" for line in log_lines(chunks))
        name = f"dispatch-{dispatch_id}-timed.log"
    else:
        text, name = "".join(c.text for c in chunks), f"dispatch-{dispatch_id}.log"
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _stamp(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if at else "-".ljust(24)


@portal_required
@require_http_methods(["GET", "POST"])
def dispatch_cancel(request: HttpRequest, dispatch_id: str) -> HttpResponse:
    """GET asks for confirmation; POST cancels. A finished dispatch answers 409."""
    scope = viewer_tenant_id(request)
    dispatch = selectors.dispatch_get(tenant_id=scope, dispatch_id=dispatch_id)
    error = str(InvalidTransition(dispatch.status)) if dispatch.status.is_terminal else ""
    if request.method == "POST" and not error:
        try:
            lifecycle.dispatch_cancel(dispatch=dispatch, actor=actor_from(request))
        except InvalidTransition as exc:
            error = str(exc)
        else:
            messages.success(request, f"Dispatch {dispatch_id} cancelled.")
            return redirect("dispatches:detail", dispatch_id=dispatch_id)
    context = {"dispatch": dispatch, "error": error}
    return render_page(
        request, "dispatches/dispatch_cancel.html", context, status=409 if error else 200
    )


@portal_required
@require_http_methods(["GET", "POST"])
def dispatch_rerun(request: HttpRequest, dispatch_id: str) -> HttpResponse:
    """GET shows the request pre-filled to edit (task, model, timeout, tags); POST creates it
    (once per confirmation: the form's token is the idempotency key, so a double submit
    opens the same new dispatch, and the same token with other values is refused)."""
    scope = viewer_tenant_id(request)
    original = selectors.dispatch_get(tenant_id=scope, dispatch_id=dispatch_id)
    error = "" if original.status.is_terminal else str(StillActive(original.status))
    if request.method == "POST":
        tenant = tenant_selectors.tenant_get(tenant_id=original.tenant_id)
        form = RerunForm(
            request.POST, original=original, timeout_cap=tenant.limits.max_job_timeout_seconds
        )
        if form.is_valid() and not error:
            try:
                new_id = _rerun(request, original, tenant.limits, form)
            except (QuotaExceeded, TenantNotActive, StillActive, IdempotencyInFlight) as exc:
                error = _rerun_problem(exc)
            except IdempotencyMismatch:
                error = "This form was sent already with other values: reload it to run again."
            else:
                messages.success(request, f"Dispatch {dispatch_id} runs again as {new_id}.")
                return redirect("dispatches:detail", dispatch_id=new_id)
    else:
        form = RerunForm(original=original, initial={"token": secrets.token_urlsafe(16)})
    context = {"dispatch": original, "error": error, "form": form}
    status = 409 if error else 400 if form.errors else 200
    return render_page(request, "dispatches/dispatch_rerun.html", context, status=status)


def _rerun(request: HttpRequest, original: Dispatch, limits: Limits, form: RerunForm) -> str:
    try:
        dispatch = lifecycle.dispatch_rerun(
            original=original,
            api_key_id="",
            limits=limits,
            idempotency_key=f"page-rerun-{form.cleaned_data['token']}",
            render=lambda d: {"dispatchId": d.dispatch_id},
            actor=actor_from(request),
            edits=form.edits(),
        )
    except lifecycle.Replay as replay:  # the same confirmation submitted twice
        return replay.dispatch_id or str((replay.response or {})["dispatchId"])
    return dispatch.dispatch_id


def _rerun_problem(exc: Exception) -> str:
    if isinstance(exc, BudgetExceeded):
        whose = "key's" if exc.limit == "key_budget" else "tenant's"
        return (
            f"Not started: this month's spend of {budgets.usd(exc.current)} has reached the "
            f"{whose} budget of {budgets.usd(exc.maximum)}."
        )
    if isinstance(exc, QuotaExceeded):
        return f"Not started: the tenant's {exc.limit} limit of {exc.maximum} is reached."
    if isinstance(exc, IdempotencyInFlight):
        return "This confirmation is being handled already."
    return str(exc)


@portal_required
@require_http_methods(["GET", "POST"])
def dispatch_bulk_cancel(request: HttpRequest) -> HttpResponse:
    """Cancel several pending or running dispatches with one confirmation: GET lists what
    was selected (one BatchGetItem), POST cancels each and says how it went."""
    scope = viewer_tenant_id(request)
    ids = [
        i
        for i in request.GET.getlist("ids") + request.POST.getlist("ids")
        if _DISPATCH_ID.fullmatch(i)
    ]
    selected = [
        d
        for d in selectors.dispatch_refresh(tenant_id=scope, dispatch_ids=ids[:BULK_MAX])
        if not d.status.is_terminal
    ]
    if request.method == "POST":
        cancelled = _cancel_each(selected, actor=actor_from(request))
        _say_how_it_went(request, cancelled, asked=len(ids))
        return redirect("dispatches:list")
    context = {
        "selected": sorted(selected, key=lambda d: d.started_at, reverse=True),
        "skipped": len(ids) - len(selected),
    }
    return render_page(request, "dispatches/dispatch_bulk_cancel.html", context)


def _cancel_each(dispatches: list[Dispatch], *, actor: Actor) -> int:
    cancelled = 0
    for dispatch in dispatches:
        try:
            lifecycle.dispatch_cancel(dispatch=dispatch, actor=actor)
        except InvalidTransition:  # it ended meanwhile
            continue
        cancelled += 1
    return cancelled


def _say_how_it_went(request: HttpRequest, cancelled: int, *, asked: int) -> None:
    if cancelled:
        plural = "" if cancelled == 1 else "es"
        messages.success(request, f"Cancelled {cancelled} dispatch{plural}.")
    if asked > cancelled:
        messages.warning(
            request,
            f"{asked - cancelled} of the {asked} selected had already ended or were not found.",
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
