"""A failed payment makes the tenant past due (shown to staff and the tenant); once the grace
period has passed the workers' pass suspends it ("payment failed", audited); a later paid
invoice lifts only a suspension billing made."""

import time
import urllib.request
from datetime import timedelta

import pytest

from billing import runner, storage
from outpost_admin.dynamo import utcnow
from tenants import selectors as tenant_selectors
from tenants import services
from tenants.domain import TenantStatus, Tier

from .conftest import API_KEY, SECRET, customer_with_card, give_customer, stripe_post
from .test_webhook import _event, _invoice, post


@pytest.fixture
def billed(billing_on, make_tenant):
    tenant, _ = make_tenant(tier=Tier.FREE)
    customer = customer_with_card(billing_on, email=tenant.email)
    give_customer(tenant.tenant_id, customer)
    runner.billing_pass()
    return tenant, customer


def status_of(tenant_id: str) -> TenantStatus:
    return tenant_selectors.tenant_get(tenant_id=tenant_id).status


def audit_actions(tenant_id: str) -> list[dict]:
    page = tenant_selectors.audit_list(tenant_id=tenant_id)
    return [{"action": e.action, "actor": e.actor, "metadata": e.metadata} for e in page.items]


def test_a_failed_payment_makes_it_past_due_and_the_grace_period_then_suspends_it(
    client, billed, settings
):
    tenant, customer = billed
    settings.OUTPOST_BILLING_GRACE_HOURS = 48
    assert (
        post(client, _event("invoice.payment_failed", _invoice(customer, "open"))).status_code
        == 200
    )
    state = storage.state_get(tenant.tenant_id)
    assert state.past_due and state.past_due_invoice == "in_1"
    runner.billing_pass()
    assert status_of(tenant.tenant_id) == TenantStatus.ACTIVE  # within the grace period
    runner.billing_pass(now=utcnow() + timedelta(hours=48, seconds=1))
    assert status_of(tenant.tenant_id) == TenantStatus.SUSPENDED
    [suspension] = [a for a in audit_actions(tenant.tenant_id) if a["action"] == "tenant.suspend"]
    assert suspension["actor"] == "billing"
    assert suspension["metadata"]["reason"] == "payment failed"
    assert storage.state_get(tenant.tenant_id).suspended_by_billing is not None


def test_a_second_failure_does_not_extend_the_grace_period(client, billed, settings):
    tenant, customer = billed
    settings.OUTPOST_BILLING_GRACE_HOURS = 1
    post(client, _event("invoice.payment_failed", _invoice(customer, "open")))
    since = storage.state_get(tenant.tenant_id).past_due_since
    post(client, _event("invoice.payment_failed", _invoice(customer, "open", "in_2")))
    assert storage.state_get(tenant.tenant_id).past_due_since == since


def test_a_paid_invoice_lifts_the_suspension_billing_made(client, billed, settings):
    tenant, customer = billed
    settings.OUTPOST_BILLING_GRACE_HOURS = 0
    post(client, _event("invoice.payment_failed", _invoice(customer, "open")))
    runner.billing_pass(now=utcnow() + timedelta(seconds=1))
    assert status_of(tenant.tenant_id) == TenantStatus.SUSPENDED
    assert post(client, _event("invoice.paid", _invoice(customer, "paid"))).status_code == 200
    assert not storage.state_get(tenant.tenant_id).past_due
    runner.billing_pass(now=utcnow() + timedelta(seconds=2))
    assert status_of(tenant.tenant_id) == TenantStatus.ACTIVE
    reactivation = [
        a for a in audit_actions(tenant.tenant_id) if a["action"] == "tenant.reactivate"
    ]
    assert reactivation[0]["actor"] == "billing"
    assert reactivation[0]["metadata"]["reason"] == "payment received"
    assert storage.state_get(tenant.tenant_id).suspended_by_billing is None


def test_a_paid_invoice_never_lifts_a_suspension_staff_made(client, billed, actor, settings):
    tenant, customer = billed
    settings.OUTPOST_BILLING_GRACE_HOURS = 1
    post(client, _event("invoice.payment_failed", _invoice(customer, "open")))
    services.tenant_set_status(
        tenant_id=tenant.tenant_id, status=TenantStatus.SUSPENDED, actor=actor
    )
    runner.billing_pass(now=utcnow() + timedelta(hours=2))  # already suspended: by staff
    post(client, _event("invoice.paid", _invoice(customer, "paid")))
    runner.billing_pass(now=utcnow() + timedelta(hours=2))
    assert status_of(tenant.tenant_id) == TenantStatus.SUSPENDED


def test_staff_changing_the_tenant_after_billing_suspended_it_keeps_it_suspended(
    client, billed, actor, settings
):
    tenant, customer = billed
    settings.OUTPOST_BILLING_GRACE_HOURS = 0
    post(client, _event("invoice.payment_failed", _invoice(customer, "open")))
    runner.billing_pass(now=utcnow() + timedelta(seconds=1))
    services.tenant_change_tier(tenant_id=tenant.tenant_id, tier=Tier.STARTER, actor=actor)
    post(client, _event("invoice.paid", _invoice(customer, "paid")))
    runner.billing_pass(now=utcnow() + timedelta(seconds=2))
    assert status_of(tenant.tenant_id) == TenantStatus.SUSPENDED


@pytest.mark.django_db(transaction=True)
def test_localstripe_delivers_its_own_signed_event_to_the_endpoint(
    billing_on, make_tenant, live_server
):
    """End to end: localstripe signs and posts customer.subscription.deleted to our live
    endpoint when the subscription is cancelled in Stripe. (localstripe sends no
    invoice.payment_failed for a subscription's first invoice, nor invoice.paid or
    customer.subscription.updated at all: those are signed with stripe's helper above.)"""
    url = f"{live_server.url}/billing/stripe/webhook".replace("localhost", "127.0.0.1")
    stripe_post(billing_on, "/_config/webhooks/outpost", {"url": url, "secret": SECRET})
    tenant, _ = make_tenant(tier=Tier.PRO)
    give_customer(tenant.tenant_id, customer_with_card(billing_on, email=tenant.email))
    runner.billing_pass()
    subscription_id = storage.state_get(tenant.tenant_id).subscription_id
    assert subscription_id
    stripe_delete(billing_on, f"/v1/subscriptions/{subscription_id}")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if storage.state_get(tenant.tenant_id).subscription_status == "canceled":
            break
        time.sleep(0.3)
    assert storage.state_get(tenant.tenant_id).subscription_status == "canceled"


def stripe_delete(base: str, path: str) -> None:
    request = urllib.request.Request(
        base + path, method="DELETE", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    with urllib.request.urlopen(request, timeout=10):
        pass
