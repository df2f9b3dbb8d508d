"""Saved views of the history: a user names the current filters, opens them again from the
sidebar, and shares them as a link. A tenant user's shared views are their team's (the
tenant's users); staff's are global (every staff user). Django's database only: the history
page gains no DynamoDB call."""

from urllib.parse import urlencode

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from outpost_admin.pages import render_page
from tenants.access import portal_required, viewer_tenant_id

from .forms import PERIOD_LABELS, DispatchFilterForm, SavedViewForm, StaffDispatchFilterForm
from .models import SavedView

MAX_VIEWS = 50  # per user: the sidebar stays a sidebar


def filter_query(query: QueryDict, *, staff: bool) -> str:
    """The filters of a history query string, as a view keeps them: known fields with a
    value, in the form's order (no cursor: a view opens on its first page)."""
    form = StaffDispatchFilterForm if staff else DispatchFilterForm
    pairs = [
        (name, query[name]) for name in form.base_fields if name != "cursor" and query.get(name)
    ]
    return urlencode(pairs)


def sidebar(request: HttpRequest, *, query: str, form: SavedViewForm | None = None) -> dict:
    """The history sidebar: the period presets, the user's views, their team's (staff: the
    global ones), and the form that saves the current filters (`query`)."""
    scope = viewer_tenant_id(request)
    team = SavedView.objects.filter(tenant_id=scope or "", shared=True).exclude(
        owner_id=request.user.pk
    )
    return {
        "my_views": list(SavedView.objects.filter(owner_id=request.user.pk)),
        "team_views": list(team.select_related("owner")[:MAX_VIEWS]),
        "team_label": "Global views" if scope is None else "Team views",
        "view_form": form or SavedViewForm(initial={"query": query}),
        "presets": presets(query),
    }


def presets(query: str) -> list[tuple[str, str, bool]]:
    """(label, link, current) per period preset: the current filters over that period."""
    current = QueryDict(query)
    links = []
    for period, label in PERIOD_LABELS.items():
        kept = [(k, v) for k, v in current.items() if k not in ("period", "since", "until", "day")]
        links.append(
            (
                label,
                _list_url(urlencode([*kept, ("period", period)])),
                current.get("period") == period,
            )
        )
    return links


def _visible(request: HttpRequest, view_id: int) -> SavedView:
    """A view this user may open (theirs, or shared with their team); anything else 404s."""
    scope = viewer_tenant_id(request)
    view = SavedView.objects.filter(pk=view_id).first()
    if view is None or not (
        view.owner_id == request.user.pk or (view.shared and view.tenant_id == (scope or ""))
    ):
        raise Http404
    return view


def _list_url(query: str) -> str:
    return reverse("dispatches:list") + (f"?{query}" if query else "")


@portal_required
@require_POST
def saved_view_create(request: HttpRequest) -> HttpResponse:
    scope = viewer_tenant_id(request)
    form = SavedViewForm(request.POST)
    staff, user_id = scope is None, request.user.pk
    assert user_id is not None  # portal_required: signed in
    if form.is_valid():
        query = QueryDict(form.cleaned_data["query"])
        filters = (StaffDispatchFilterForm if staff else DispatchFilterForm)(query)
        if not filters.is_valid():
            form.add_error(None, "Fix the filters first: these cannot be saved.")
        elif SavedView.objects.filter(owner_id=user_id).count() >= MAX_VIEWS:
            form.add_error(None, f"You have {MAX_VIEWS} views, the most one user keeps.")
        else:
            try:
                with transaction.atomic():  # a savepoint: the name taken meanwhile is an error
                    view = SavedView.objects.create(
                        owner_id=user_id,
                        tenant_id=scope or "",
                        name=form.cleaned_data["name"].strip(),
                        query=filter_query(query, staff=staff),
                        shared=form.cleaned_data["shared"],
                    )
            except IntegrityError:
                form.add_error("name", "You already have a view with this name.")
            else:
                messages.success(request, f"Saved the view “{view.name}”.")
                if getattr(request, "htmx", False):  # the whole page, on the view's filters
                    return HttpResponseClientRedirect(_list_url(view.query))
                return redirect(_list_url(view.query))
    if getattr(request, "htmx", False):
        context = sidebar(request, query=form.data.get("query", ""), form=form)
        return render(request, "dispatches/dispatch_list.html#saved-views", context)
    for error in form.errors.values():
        messages.error(request, " ".join(str(e) for e in error))
    return redirect(_list_url(form.data.get("query", "")))


@portal_required
def saved_view_open(request: HttpRequest, view_id: int) -> HttpResponse:
    """A view's own link: whoever may see it lands on the history with its filters."""
    return redirect(_list_url(_visible(request, view_id).query))


@portal_required
@require_http_methods(["GET", "POST"])
def saved_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    view = _visible(request, view_id)
    if view.owner_id != request.user.pk:
        raise Http404  # a teammate's view is theirs to delete
    if request.method == "POST":
        view.delete()
        messages.success(request, f"Deleted the view “{view.name}”.")
        return redirect("dispatches:list")
    return render_page(request, "dispatches/saved_view_delete.html", {"view": view})
