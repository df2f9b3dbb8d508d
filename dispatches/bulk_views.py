"""The pages of bulk actions by filter: the confirmation (how many, a sample) and the
progress of a job (done, failed with reasons, remaining). One tenant at a time: staff pick
the tenant in the filters first."""

import re
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from outpost_admin.actors import actor_from
from outpost_admin.dynamo import NotFound, utcnow
from outpost_admin.pages import render_page
from tenants.access import portal_required, viewer_tenant_id
from tenants.forms import tenant_filter_id

from . import bulk, saved_views
from .domain import Dispatch
from .forms import DispatchFilterForm, StaffDispatchFilterForm
from .views import FILTER_READ_SIZE, FILTER_READS, _history

PAGES = 5  # history pages read to find the matches: at most PAGES x FILTER_READS Queries
SAMPLE = 10
_JOB_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


def _matching(form: DispatchFilterForm, tenant_id: str, action: str) -> tuple[list[Dispatch], bool]:
    """The tenant's dispatches the filters match that the action applies to, newest first:
    up to bulk.MAX_DISPATCHES, reading at most PAGES pages of the history. (matches, whether
    every match was found)."""
    found: list[Dispatch] = []
    cursor = ""
    for _ in range(PAGES):
        data = {**form.cleaned_data, "cursor": cursor}
        page = _history(
            data, tenant_id, utcnow().date(), limit=100, search=True, more=form.row_filters()
        )
        found += [d for d in page.items if bulk.applies_to(action, d)]
        cursor = page.cursor or ""
        if not cursor or len(found) > bulk.MAX_DISPATCHES:
            break
    return found[: bulk.MAX_DISPATCHES], not cursor and len(found) <= bulk.MAX_DISPATCHES


@portal_required
@require_http_methods(["GET", "POST"])
def bulk_confirm(request: HttpRequest, action: str) -> HttpResponse:
    if action not in bulk.ACTIONS:
        raise Http404
    scope = viewer_tenant_id(request)
    form = (StaffDispatchFilterForm if scope is None else DispatchFilterForm)(request.GET)
    tenant_id = scope or (tenant_filter_id(form) if form.is_valid() else "")
    context: dict[str, Any] = {"action": action, "verb": bulk.ACTIONS[action], "form": form}
    query = saved_views.filter_query(request.GET, staff=scope is None)
    context["query"] = query
    if not form.is_valid() or not tenant_id:
        context["problem"] = (
            "Pick a tenant in the filters first: a bulk action applies to one tenant's history."
            if form.is_valid()
            else "Fix the filters first."
        )
        return render_page(request, "dispatches/bulk_confirm.html", context, status=400)
    matches, complete = _matching(form, tenant_id, action)
    context.update(
        matches=len(matches),
        sample=matches[:SAMPLE],
        complete=complete,
        searched=PAGES * FILTER_READS * FILTER_READ_SIZE,
        limit=bulk.MAX_DISPATCHES,
    )
    if request.method == "POST" and matches:
        if request.POST.get("expected") != str(len(matches)):
            context["changed"] = True  # confirmed for another number: ask again
            return render_page(request, "dispatches/bulk_confirm.html", context, status=409)
        job_id = bulk.job_start(
            tenant_id=tenant_id,
            action=action,
            dispatch_ids=[d.dispatch_id for d in matches],
            query=query,
            actor=actor_from(request),
        )
        bulk.start(bulk.job_get(tenant_id, job_id))
        return redirect("dispatches:bulk-job", tenant_id=tenant_id, job_id=job_id)
    return render_page(request, "dispatches/bulk_confirm.html", context)


@portal_required
def bulk_job(request: HttpRequest, tenant_id: str, job_id: str) -> HttpResponse:
    """A job's progress; while it runs, the page asks again every second (htmx). A job whose
    runner died (its lease ran out) is taken up again here."""
    scope = viewer_tenant_id(request)
    if (scope is not None and scope != tenant_id) or not _JOB_ID.fullmatch(job_id):
        raise Http404
    try:
        job = bulk.job_get(tenant_id, job_id)
    except NotFound as exc:
        raise Http404 from exc
    bulk.start(job)
    context = {"job": job, "verb": bulk.ACTIONS[job.action], "tenant_id": tenant_id}
    if getattr(request, "htmx", False) and request.GET.get("poll"):
        return render(request, "dispatches/bulk_job.html#progress", context)
    return render_page(request, "dispatches/bulk_job.html", context)
