"""Webhook pages: a tenant's users manage their own tenant's, staff any tenant's. Every action
is a POST behind a confirmation page when it destroys or replaces something."""

from datetime import UTC
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from outpost_admin.actors import actor_from
from outpost_admin.pages import no_store, render_page
from tenants import selectors as tenant_selectors
from tenants.access import portal_required, viewer_tenant_id

from . import selectors, services
from .domain import WebhookError
from .forms import EndpointForm, NotifyForm, RecoverForm

PAGE_SIZE = 25


def _authorized(request: HttpRequest, tenant_id: str) -> Any:
    """The tenant, if this user may manage its webhooks (staff: any; a user: their own)."""
    scope = viewer_tenant_id(request)
    if scope is not None and scope != tenant_id:
        raise Http404
    return tenant_selectors.tenant_get(tenant_id=tenant_id)


@portal_required
def webhooks_home(request: HttpRequest) -> HttpResponse:
    tenant_id = viewer_tenant_id(request)
    if tenant_id is None:
        return redirect("tenants:list")
    return redirect("webhooks:list", tenant_id=tenant_id)


@portal_required
def endpoint_list(request: HttpRequest, tenant_id: str) -> HttpResponse:
    tenant = _authorized(request, tenant_id)
    notify = selectors.notify_get(tenant_id=tenant_id)
    initial = {
        "on_failure": notify.on_failure,
        "streak": notify.streak,
        "cooldown_minutes": notify.cooldown_seconds // 60,
    }
    context = {
        "tenant": tenant,
        "endpoints": selectors.endpoint_list(tenant_id=tenant_id),
        "notify_form": NotifyForm(initial=initial),
        "has_callback_secret": selectors.has_callback_secret(tenant_id=tenant_id),
    }
    return render_page(request, "webhooks/endpoint_list.html", context)


@portal_required
@require_http_methods(["GET", "POST"])
def endpoint_create(request: HttpRequest, tenant_id: str) -> HttpResponse:
    tenant = _authorized(request, tenant_id)
    form = EndpointForm(request.POST or None, initial={"events": ["dispatch.failed"]})
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = services.endpoint_create(
                tenant_id=tenant_id,
                url=form.cleaned_data["url"],
                events=tuple(form.cleaned_data["events"]),
                description=form.cleaned_data["description"],
                actor=actor_from(request),
            )
        except WebhookError as exc:
            form.add_error(exc.field or None, str(exc))
        else:
            return _secret_once(request, tenant, endpoint, secret, "Endpoint added")
    status = 400 if form.errors else 200
    context = {"tenant": tenant, "form": form}
    return render_page(request, "webhooks/endpoint_create.html", context, status=status)


def _secret_once(
    request: HttpRequest, tenant: Any, endpoint: Any, secret: str, title: str
) -> HttpResponse:
    messages.success(request, f"{title}. Copy the signing secret now: it is shown only once.")
    context = {"tenant": tenant, "endpoint": endpoint, "secret": secret, "title": title}
    return no_store(render_page(request, "webhooks/secret_shown.html", context))


@portal_required
@require_http_methods(["GET", "POST"])
def endpoint_detail(request: HttpRequest, tenant_id: str, endpoint_id: str) -> HttpResponse:
    tenant = _authorized(request, tenant_id)
    endpoint = selectors.endpoint_get(tenant_id=tenant_id, endpoint_id=endpoint_id)
    initial = {
        "url": endpoint.url,
        "description": endpoint.description,
        "events": list(endpoint.events),
        "enabled": endpoint.enabled,
    }
    form = EndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.endpoint_update(
                tenant_id=tenant_id,
                endpoint_id=endpoint_id,
                actor=actor_from(request),
                **{k: form.cleaned_data[k] for k in ("url", "description", "enabled")},
                events=tuple(form.cleaned_data["events"]),
            )
        except WebhookError as exc:
            form.add_error(exc.field or None, str(exc))
        else:
            messages.success(request, "Endpoint saved.")
            return redirect("webhooks:detail", tenant_id=tenant_id, endpoint_id=endpoint_id)
    page = selectors.delivery_list(
        tenant_id=tenant_id,
        endpoint_id=endpoint_id,
        cursor=request.GET.get("cursor") or None,
        limit=PAGE_SIZE,
    )
    context = {
        "tenant": tenant,
        "endpoint": endpoint,
        "form": form,
        "page": page,
        "recover_form": RecoverForm(),
    }
    partial = "rows" if request.GET.get("cursor") else "content"
    status = 400 if form.errors else 200
    return render_page(
        request, "webhooks/endpoint_detail.html", context, partial=partial, status=status
    )


@portal_required
def delivery_detail(
    request: HttpRequest, tenant_id: str, endpoint_id: str, event_id: str
) -> HttpResponse:
    """A delivery's attempts: a page, or (htmx) the row's expansion."""
    tenant = _authorized(request, tenant_id)
    endpoint = selectors.endpoint_get(tenant_id=tenant_id, endpoint_id=endpoint_id)
    delivery, attempts = selectors.delivery_get(
        tenant_id=tenant_id, endpoint_id=endpoint_id, event_id=event_id
    )
    context = {"tenant": tenant, "endpoint": endpoint, "delivery": delivery, "attempts": attempts}
    return render_page(request, "webhooks/delivery_detail.html", context, partial="attempts")


@portal_required
@require_POST
def delivery_resend(
    request: HttpRequest, tenant_id: str, endpoint_id: str, event_id: str
) -> HttpResponse:
    _authorized(request, tenant_id)
    services.delivery_resend(
        tenant_id=tenant_id, endpoint_id=endpoint_id, event_id=event_id, actor=actor_from(request)
    )
    messages.success(request, f"Delivery {event_id} will be sent again.")
    return redirect("webhooks:detail", tenant_id=tenant_id, endpoint_id=endpoint_id)


@portal_required
@require_POST
def endpoint_test(request: HttpRequest, tenant_id: str, endpoint_id: str) -> HttpResponse:
    _authorized(request, tenant_id)
    delivery = services.endpoint_send_test(
        tenant_id=tenant_id, endpoint_id=endpoint_id, actor=actor_from(request)
    )
    messages.success(request, f"Test event {delivery.event_id} queued.")
    return redirect("webhooks:detail", tenant_id=tenant_id, endpoint_id=endpoint_id)


@portal_required
@require_http_methods(["GET", "POST"])
def endpoint_action(
    request: HttpRequest, tenant_id: str, endpoint_id: str, action: str
) -> HttpResponse:
    """Rotate the secret, delete the endpoint, or recover failed deliveries: GET asks first."""
    tenant = _authorized(request, tenant_id)
    endpoint = selectors.endpoint_get(tenant_id=tenant_id, endpoint_id=endpoint_id)
    form = RecoverForm(request.POST or request.GET or None) if action == "recover" else None
    context = {"tenant": tenant, "endpoint": endpoint, "action": action, "form": form}
    if form is not None and not form.is_valid():
        return render_page(request, "webhooks/endpoint_confirm.html", context, status=400)
    if request.method == "GET":
        return render_page(request, "webhooks/endpoint_confirm.html", context)
    actor = actor_from(request)
    if action == "rotate":
        rotated, secret = services.endpoint_rotate_secret(
            tenant_id=tenant_id, endpoint_id=endpoint_id, actor=actor
        )
        return _secret_once(request, tenant, rotated, secret, "Secret rotated")
    if action == "delete":
        services.endpoint_delete(tenant_id=tenant_id, endpoint_id=endpoint_id, actor=actor)
        messages.success(request, f"Endpoint {endpoint.url} deleted.")
        return redirect("webhooks:list", tenant_id=tenant_id)
    assert form is not None
    since = form.cleaned_data["since"].replace(tzinfo=UTC)
    count = services.deliveries_recover(
        tenant_id=tenant_id, endpoint_id=endpoint_id, since=since, actor=actor
    )
    messages.success(request, f"{count} failed deliveries will be sent again.")
    return redirect("webhooks:detail", tenant_id=tenant_id, endpoint_id=endpoint_id)


@portal_required
@require_POST
def notify_update(request: HttpRequest, tenant_id: str) -> HttpResponse:
    tenant = _authorized(request, tenant_id)
    form = NotifyForm(request.POST)
    if form.is_valid():
        services.notify_update(
            tenant_id=tenant_id,
            on_failure=form.cleaned_data["on_failure"],
            streak=form.cleaned_data["streak"],
            cooldown_minutes=form.cleaned_data["cooldown_minutes"],
            actor=actor_from(request),
        )
        messages.success(request, "Failure e-mails saved.")
        return redirect("webhooks:list", tenant_id=tenant_id)
    context = {"tenant": tenant, "notify_form": form, "endpoints": [], "errors_only": True}
    return render(request, "webhooks/endpoint_list.html", context, status=400)


@portal_required
@require_http_methods(["GET", "POST"])
def callback_secret_rotate(request: HttpRequest, tenant_id: str) -> HttpResponse:
    tenant = _authorized(request, tenant_id)
    if request.method == "GET":
        context = {"tenant": tenant, "action": "callback"}
        return render_page(request, "webhooks/endpoint_confirm.html", context)
    secret = services.callback_secret_rotate(tenant_id=tenant_id, actor=actor_from(request))
    return _secret_once(request, tenant, None, secret, "Callback secret rotated")
