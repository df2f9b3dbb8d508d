"""Staff pages: tenants, their keys, the audit log."""

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import push_url

from outpost_admin.actors import actor_from
from outpost_admin.dynamo import utcnow
from outpost_admin.pages import no_store, render_page, staff_required

from . import selectors, services
from .domain import TIER_LIMITS, Scope, TenantStatus, Tier
from .forms import AuditFilterForm, KeyForm, ProvisionForm, RotateForm, TenantFilterForm, TierForm


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
            return _show_key_once(request, tenant.tenant_id, issued, title="Tenant provisioned")
    status = 400 if form.errors else 200
    return render_page(request, "tenants/tenant_provision.html", {"form": form}, status=status)


def _show_key_once(
    request: HttpRequest, tenant_id: str, issued: object, *, title: str
) -> HttpResponse:
    """The raw key appears in this response only; the URL moves on so a reload won't show it."""
    tenant = selectors.tenant_get(tenant_id=tenant_id)
    context = {"tenant": tenant, "issued": issued, "title": title}
    response = render_page(request, "tenants/key_issued.html", context)
    tenant_url = reverse("tenants:detail", args=[tenant_id])
    if getattr(request, "htmx", False):
        push_url(response, tenant_url)
    return no_store(response)


@staff_required
def tenant_detail(request: HttpRequest, tenant_id: str) -> HttpResponse:
    tenant = selectors.tenant_get(tenant_id=tenant_id)
    context = {
        "tenant": tenant,
        "keys": [
            (k, k.effective_status(utcnow())) for k in selectors.key_list(tenant_id=tenant_id)
        ],
        "usage": selectors.usage_today(tenant_id=tenant_id),
        "events": selectors.audit_list(tenant_id=tenant_id, limit=10).items,
        "tier_form": TierForm(initial={"tier": tenant.tier.value}),
    }
    return render_page(request, "tenants/tenant_detail.html", context)


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
    return redirect("tenants:detail", tenant_id=tenant_id)


@staff_required
@require_http_methods(["GET", "POST"])
def tenant_status(request: HttpRequest, tenant_id: str, action: str) -> HttpResponse:
    """GET asks for confirmation; POST suspends or reactivates."""
    tenant = selectors.tenant_get(tenant_id=tenant_id)
    target = TenantStatus.SUSPENDED if action == "suspend" else TenantStatus.ACTIVE
    error = ""
    if request.method == "POST":
        try:
            services.tenant_set_status(
                tenant_id=tenant_id, status=target, actor=actor_from(request)
            )
        except services.ServiceError as exc:
            error = str(exc)
        else:
            return redirect("tenants:detail", tenant_id=tenant_id)
    context = {"tenant": tenant, "action": action, "error": error}
    return render_page(request, "tenants/tenant_status.html", context, status=409 if error else 200)


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
            )
        except services.ServiceError as exc:
            form.add_error(exc.field, str(exc))
        else:
            return _show_key_once(request, tenant_id, issued, title="API key created")
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
            return _show_key_once(request, tenant_id, issued, title="API key rotated")
    status = 400 if form.errors else 200
    context = {"tenant": tenant, "key": key, "form": form}
    return render_page(request, "tenants/key_rotate.html", context, status=status)


@staff_required
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    page = None
    if form.is_valid():
        tenant = form.cleaned_data["tenant"]
        page = selectors.audit_list(
            tenant_id=str(tenant) if tenant else "",
            day=form.cleaned_data["day"],
            action=form.cleaned_data["action"],
            cursor=form.cleaned_data["cursor"] or None,
        )
    partial = "rows" if request.GET.get("cursor") else "content"
    return render_page(
        request, "tenants/audit_log.html", {"form": form, "page": page}, partial=partial
    )
