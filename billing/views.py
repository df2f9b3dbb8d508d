"""The billing section of a tenant's page (staff: any tenant; a tenant user: their own),
and the endpoint Stripe sends its events to."""

import logging

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from outpost_admin import billing_marks
from outpost_admin.dynamo import utcnow
from outpost_admin.pages import render_page, staff_required
from tenants.access import portal_required, viewer_tenant_id

from . import events, selectors, stripe_api

logger = logging.getLogger(__name__)


@require_GET
@staff_required
def tenant_billing(request: HttpRequest, tenant_id: str) -> HttpResponse:
    """Staff: a tenant's subscription, its status and period, past due or not, invoices."""
    return _section(request, tenant_id, staff=True)


@require_GET
@portal_required
def my_billing(request: HttpRequest) -> HttpResponse:
    """A tenant user: their own tenant's (the tenant comes from the signed-in user)."""
    tenant_id = viewer_tenant_id(request)
    if tenant_id is None:
        raise Http404  # staff have no tenant of their own: they use the tenant's page
    return _section(request, tenant_id, staff=False)


def _section(request: HttpRequest, tenant_id: str, *, staff: bool) -> HttpResponse:
    overview = selectors.billing_overview(tenant_id=tenant_id)
    context = {"overview": overview, "tenant_id": tenant_id, "staff": staff}
    return render_page(request, "billing/billing_page.html", context, partial="billing-section")


@csrf_exempt  # Stripe signs its requests instead (verified below)
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """An event from Stripe: 400 unless signed with our secret within the tolerance; then
    applied once by its id (a repeat answers 200 and changes nothing)."""
    if not billing_marks.billing_on():
        raise Http404
    try:
        event = stripe_api.event_from_webhook(request.body, request.headers.get("Stripe-Signature"))
    except (stripe_api.SignatureError, ValueError) as exc:
        logger.warning("billing: webhook refused: %s", exc)
        return JsonResponse({"error": "invalid signature or payload"}, status=400)
    outcome = events.event_handle(event, now=utcnow())
    return JsonResponse({"received": True, "outcome": outcome})
