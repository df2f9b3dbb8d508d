"""Staff pages: tenants, their keys, the audit log."""

import csv
import io
import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import push_url

from outpost_admin.actors import actor_from
from outpost_admin.audit import AuditEvent
from outpost_admin.dynamo import utcnow
from outpost_admin.pages import no_store, render_page, staff_required
from outpost_admin.templatetags.outpost import audit_details, relative

from . import memberships, selectors, services
from .budgets import MICROS, Budget
from .domain import (
    SUSPENDED_LABEL,
    TIER_LIMITS,
    ApiKey,
    KeyStatus,
    Scope,
    Tenant,
    TenantStatus,
    Tier,
)
from .forms import (
    AuditFilterForm,
    BudgetForm,
    KeyForm,
    ProvisionForm,
    RotateForm,
    SuspendForm,
    TenantFilterForm,
    TierForm,
    tenant_filter_id,
)


@staff_required
def tenant_list(request: HttpRequest) -> HttpResponse:
    form = TenantFilterForm(request.GET)
    page = None
    if form.is_valid():
        page = selectors.tenant_list(**form.cleaned_data)
    partial = "rows" if request.GET.get("cursor") else "content"
    return render_page(
        request, "tenants/tenant_list.html", {"form": form, "page": page}, partial=partial
    )


@staff_required
def tenant_picker(request: HttpRequest) -> HttpResponse:
    """Suggestions for a tenant filter: names starting with what was typed (name index)."""
    text = request.GET.get("tenant", "").strip()[:200]
    tenants = selectors.tenant_list(search=text, limit=10).items if text else []
    names = [t.name for t in tenants]
    duplicates = {n for n in names if names.count(n) > 1}
    context = {"tenants": tenants, "duplicates": duplicates}
    return render(request, "tenants/_tenant_options.html", context)


@staff_required
@require_http_methods(["GET", "POST"])
def tenant_provision(request: HttpRequest) -> HttpResponse:
    form = ProvisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            tenant, issued = services.tenant_provision(
                name=form.cleaned_data["name"],
                email=form.cleaned_data["email"],
                tier=Tier(form.cleaned_data["tier"]),
                actor=actor_from(request),
            )
        except services.ServiceError as exc:
            form.add_error(exc.field, str(exc))
        else:
            return show_key_once(request, tenant.tenant_id, issued, title="Tenant provisioned")
    status = 400 if form.errors else 200
    return render_page(request, "tenants/tenant_provision.html", {"form": form}, status=status)


FIRST_DISPATCH_BODY = (
    '{"agent": "claude", "task": "Fix the failing test in tests/test_utils.py", '
    '"repo": "acme/widgets", "branch": "main"}'
)


def show_key_once(
    request: HttpRequest, tenant_id: str, issued: object, *, title: str
) -> HttpResponse:
    """The raw key appears in this response only; the URL moves on so a reload won't show it."""
    tenant = selectors.tenant_get(tenant_id=tenant_id)
    context = {
        "tenant": tenant,
        "issued": issued,
        "title": title,
        # The first request a new key makes: the control plane's route, as a curl to copy.
        "dispatch_url": request.build_absolute_uri(reverse("legacy-dispatch-create")),
        "example_body": FIRST_DISPATCH_BODY,
    }
    messages.success(request, f"{title}. Copy the key now: it is shown only once.")
    response = render_page(request, "tenants/key_issued.html", context)
    tenant_url = reverse("tenants:detail", args=[tenant_id])
    if getattr(request, "htmx", False):
        push_url(response, tenant_url)
    return no_store(response)


@staff_required
def tenant_detail(request: HttpRequest, tenant_id: str) -> HttpResponse:
    tenant, today, budget = selectors.tenant_home(tenant_id=tenant_id)  # one BatchGetItem
    context = {
        "tenant": tenant,
        "keys": key_states(tenant, selectors.key_list(tenant_id=tenant_id), now=utcnow()),
        "dispatches_today": today,
        "events": selectors.audit_list(tenant_id=tenant_id, limit=10).items,
        "members": memberships.member_list(tenant_id=tenant_id),
        "tier_form": TierForm(initial={"tier": tenant.tier.value}),
        **_budget_context(tenant_id, budget=budget),
    }
    return render_page(request, "tenants/tenant_detail.html", context)


def _budget_context(
    tenant_id: str, form: BudgetForm | None = None, *, budget: Budget | None = None
) -> dict[str, Any]:
    budget = budget if budget is not None else selectors.budget_get(tenant_id=tenant_id)
    initial = {
        "hard_usd": _dollars(budget.hard),
        "soft_usd": _dollars(budget.soft),
    }
    return {
        "budget": budget,
        "projection": budget.projection(utcnow()),
        "budget_form": form or BudgetForm(initial=initial),
    }


def _dollars(micros: int | None) -> Decimal | None:
    return None if micros is None else (Decimal(micros) / MICROS).quantize(Decimal("0.01"))


@staff_required
@require_http_methods(["GET", "POST"])
def tenant_budget(request: HttpRequest, tenant_id: str, key_id: str = "") -> HttpResponse:
    """The tenant's (or one of its keys') monthly budget: GET the form, POST sets it (audited)
    or shows its errors. Another tenant's key is a 404."""
    tenant = selectors.tenant_get(tenant_id=tenant_id)
    key = selectors.key_get(tenant_id=tenant_id, api_key_id=key_id) if key_id else None
    form = BudgetForm(request.POST) if request.method == "POST" else None
    if form is not None and form.is_valid():
        try:
            amounts = form.micros()
            services.budget_set(
                tenant_id=tenant_id,
                api_key_id=key_id,
                hard=amounts["hard"],
                soft=amounts["soft"],
                actor=actor_from(request),
            )
        except services.ServiceError as exc:
            form.add_error(f"{exc.field}_usd" if exc.field else None, str(exc))
        else:
            whose = f"the key {key.name}" if key else tenant.name
            messages.success(request, f"The budget of {whose} is saved.")
            return redirect(reverse("tenants:detail", args=[tenant_id]) + "#budget")
    budget = selectors.budget_get(tenant_id=tenant_id, api_key_id=key_id) if key_id else None
    context = {"tenant": tenant, "key": key, **_budget_context(tenant_id, form, budget=budget)}
    status = 400 if form is not None else 200
    return render_page(request, "tenants/tenant_budget.html", context, status=status)


def key_states(
    tenant: Tenant, keys: list[ApiKey], *, now: datetime
) -> list[tuple[ApiKey, str, str]]:
    """Each key with its badge and what it really is: "rotating — old key expires in 58 min",
    "suspended with its tenant", "expired"... A rotating key is one a rotation replaced (it
    names its replacement), not any older key that shares a newer key's name."""
    rows = []
    for key in keys:
        status = key.effective_status(now)
        badge, text = status.value, status.value
        if key.suspended_with_tenant and status == KeyStatus.REVOKED:
            # Revoked by the suspension; reactivation gives it back.
            badge, text = "suspended", SUSPENDED_LABEL
        elif status == KeyStatus.ACTIVE and tenant.status == TenantStatus.SUSPENDED:
            badge, text = "suspended", SUSPENDED_LABEL
        elif status == KeyStatus.ACTIVE and key.expires_at:
            expires = relative(key.expires_at, now)
            if key.replaced_by:
                badge, text = "rotating", f"rotating — old key expires {expires}"
            else:
                text = f"active — expires {expires}"
        rows.append((key, badge, text))
    return rows


@staff_required
@require_POST
def tenant_tier(request: HttpRequest, tenant_id: str) -> HttpResponse:
    tenant = selectors.tenant_get(tenant_id=tenant_id)
    form = TierForm(request.POST)
    if not form.is_valid():
        context = {"tenant": tenant, "form": form}
        return render_page(request, "tenants/tenant_tier.html", context, status=400)
    tier = Tier(form.cleaned_data["tier"])
    if "confirm" not in request.POST:  # first show what the limits become
        context = {"tenant": tenant, "form": form, "tier": tier, "limits": TIER_LIMITS[tier]}
        return render_page(request, "tenants/tenant_tier.html", context)
    services.tenant_change_tier(tenant_id=tenant_id, tier=tier, actor=actor_from(request))
    messages.success(request, f"{tenant.name} is now on the {tier.value} tier.")
    return redirect("tenants:detail", tenant_id=tenant_id)


@staff_required
@require_http_methods(["GET", "POST"])
def tenant_status(request: HttpRequest, tenant_id: str, action: str) -> HttpResponse:
    """GET asks for confirmation (a suspension, for its reason); POST suspends or reactivates."""
    tenant = selectors.tenant_get(tenant_id=tenant_id)
    target = TenantStatus.SUSPENDED if action == "suspend" else TenantStatus.ACTIVE
    data = request.POST if request.method == "POST" else None
    form = SuspendForm(data) if action == "suspend" else None
    error = ""
    if request.method == "POST" and (form is None or form.is_valid()):
        try:
            services.tenant_set_status(
                tenant_id=tenant_id,
                status=target,
                actor=actor_from(request),
                reason=form.cleaned_data["reason"] if form else "",
            )
        except services.ServiceError as exc:
            error = str(exc)
        else:
            done = "suspended" if action == "suspend" else "reactivated"
            messages.success(request, f"{tenant.name} is {done}.")
            return redirect("tenants:detail", tenant_id=tenant_id)
    status = 409 if error else 400 if form is not None and form.errors else 200
    context = {"tenant": tenant, "action": action, "error": error, "form": form}
    return render_page(request, "tenants/tenant_status.html", context, status=status)


@staff_required
@require_http_methods(["GET", "POST"])
def key_create(request: HttpRequest, tenant_id: str) -> HttpResponse:
    tenant = selectors.tenant_get(tenant_id=tenant_id)
    form = KeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.key_create(
                tenant_id=tenant_id,
                name=form.cleaned_data["name"],
                scopes=tuple(Scope(s) for s in form.cleaned_data["scopes"]),
                expires_at=form.cleaned_data["expires_at"],
                actor=actor_from(request),
                by_staff=True,
            )
        except services.ServiceError as exc:
            form.add_error(exc.field, str(exc))
        else:
            return show_key_once(request, tenant_id, issued, title="API key created")
    status = 400 if form.errors else 200
    return render_page(
        request, "tenants/key_create.html", {"tenant": tenant, "form": form}, status=status
    )


@staff_required
@require_http_methods(["GET", "POST"])
def key_revoke(request: HttpRequest, tenant_id: str, key_id: str) -> HttpResponse:
    tenant = selectors.tenant_get(tenant_id=tenant_id)
    key = selectors.key_get(tenant_id=tenant_id, api_key_id=key_id)
    error = ""
    if request.method == "POST":
        try:
            services.key_revoke(tenant_id=tenant_id, api_key_id=key_id, actor=actor_from(request))
        except services.ServiceError as exc:
            error = str(exc)
        else:
            messages.success(request, f"Key {key.key_prefix}… “{key.name}” is revoked.")
            return redirect("tenants:detail", tenant_id=tenant_id)
    context = {"tenant": tenant, "key": key, "error": error}
    return render_page(request, "tenants/key_revoke.html", context, status=409 if error else 200)


@staff_required
@require_http_methods(["GET", "POST"])
def key_rotate(request: HttpRequest, tenant_id: str, key_id: str) -> HttpResponse:
    tenant = selectors.tenant_get(tenant_id=tenant_id)
    key = selectors.key_get(tenant_id=tenant_id, api_key_id=key_id)
    form = RotateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            _, issued = services.key_rotate(
                tenant_id=tenant_id,
                api_key_id=key_id,
                grace=timedelta(hours=form.cleaned_data["grace_hours"]),
                actor=actor_from(request),
            )
        except services.ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            return show_key_once(request, tenant_id, issued, title="API key rotated")
    status = 400 if form.errors else 200
    context = {"tenant": tenant, "key": key, "form": form}
    return render_page(request, "tenants/key_rotate.html", context, status=status)


AUDIT_FILTERS = ("day", "action", "actor", "resource")
AUDIT_EXPORT_MAX = 5000


@staff_required
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    context: dict[str, Any] = {"form": form}
    filters = _audit_filters(form)
    if filters is not None:
        page = selectors.audit_list(cursor=form.cleaned_data["cursor"] or None, **filters)
        names = selectors.tenant_names(tenant_ids=sorted({e.tenant_id for e in page.items}))
        context.update(page=page, events=page.items, tenant_names=names, show_tenant=True)
        context["export"] = request.GET.copy()
        context["export"].pop("cursor", None)
    if request.GET.get("cursor") and getattr(request, "htmx", False):
        context["more_page"] = True
        return render(request, "tenants/_audit_table.html#rows", context)
    return render_page(request, "tenants/audit_log.html", context)


def _audit_filters(form: AuditFilterForm) -> dict[str, Any] | None:
    """The selector's filters from a valid form (the tenant looked up by name), else None."""
    if not form.is_valid():
        return None
    tenant_id = tenant_filter_id(form)
    if form.errors:
        return None
    data = form.cleaned_data
    return {"tenant_id": tenant_id, "text": data["q"], **{k: data[k] for k in AUDIT_FILTERS}}


@staff_required
def audit_export(request: HttpRequest) -> HttpResponse:
    """What the audit page shows for these filters, as CSV (at most AUDIT_EXPORT_MAX rows)."""
    form = AuditFilterForm(request.GET)
    filters = _audit_filters(form)
    if filters is None:
        return render_page(request, "tenants/audit_log.html", {"form": form}, status=400)
    events = selectors.audit_iter(limit=AUDIT_EXPORT_MAX, **filters)
    response = HttpResponse("".join(_csv_rows(events)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="outpost-audit.csv"'
    return response


def _csv_rows(events: Iterator[AuditEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["time_utc", "tenant_id", "action", "resource", "actor", "details", "ip", "request_id"]
    for row in itertools.chain([header], (_csv_row(e) for e in events)):
        writer.writerow([_spreadsheet_safe(str(v)) for v in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _csv_row(event: AuditEvent) -> list[str]:
    details = "; ".join(f"{label}: {value}" for label, value in audit_details(event.metadata))
    return [
        event.occurred_at,
        event.tenant_id,
        event.action,
        event.resource,
        event.actor,
        details,
        event.ip_address,
        event.request_id,
    ]


def _spreadsheet_safe(value: str) -> str:
    """A cell a spreadsheet won't run as a formula."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@staff_required
@require_http_methods(["GET", "POST"])
def user_revoke(request: HttpRequest, tenant_id: str, user_id: int) -> HttpResponse:
    """GET asks for confirmation; POST takes the tenant user's access away."""
    tenant = selectors.tenant_get(tenant_id=tenant_id)
    member = memberships.member_get(tenant_id=tenant_id, user_id=user_id)
    error = ""
    if request.method == "POST":
        try:
            memberships.tenant_user_revoke(
                tenant_id=tenant_id, user_id=user_id, actor=actor_from(request)
            )
        except services.ServiceError as exc:
            error = str(exc)
        else:
            messages.success(request, f"{member.user.email} can no longer sign in.")
            return redirect("tenants:detail", tenant_id=tenant_id)
    context = {"tenant": tenant, "member": member, "error": error}
    return render_page(request, "tenants/user_revoke.html", context, status=409 if error else 200)


def home(request: HttpRequest) -> HttpResponse:
    """Staff start at the tenants list; a tenant user at their tenant's home."""
    if not request.user.is_authenticated:
        return redirect("login")
    if not request.user.is_staff and memberships.member_tenant_id(request.user):
        return redirect("dispatches:home")
    return redirect("tenants:list")
