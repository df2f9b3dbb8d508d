"""Provisioning and a tier change call no Stripe: they mark the tenant item in the write they
already make, and the workers' billing pass creates the customer and the subscription (or
moves it to the new tier's price) in localstripe, with retries."""

import json
import urllib.request

import pytest

from billing import runner, storage
from outpost_admin.dynamo import call, counting_calls, from_item, utcnow
from outpost_admin.dynamo.tables import TENANTS
from tenants import services
from tenants import storage as tenant_storage
from tenants.domain import Tier

from .conftest import API_KEY, customer_with_card, give_customer


def stripe_get(base: str, path: str) -> dict:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {API_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def tenant_item(tenant_id: str) -> dict:
    item = call("get_item", TableName=TENANTS.name, Key=tenant_storage.tenant_key(tenant_id))
    return from_item(item["Item"])


def test_provisioning_calls_no_stripe_and_makes_the_same_calls(billing_on, actor, settings):
    settings.OUTPOST_STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens: any call fails
    with counting_calls() as on:
        tenant, _ = services.tenant_provision(
            name="Billed", email=f"b-{utcnow().timestamp()}@example.com", tier=Tier.PRO, actor=actor
        )
    settings.OUTPOST_STRIPE_API_KEY = ""
    with counting_calls() as off:
        services.tenant_provision(
            name="Free", email=f"f-{utcnow().timestamp()}@example.com", tier=Tier.PRO, actor=actor
        )
    assert on.by_operation() == off.by_operation() == {"TransactWriteItems": 1}
    item = tenant_item(tenant.tenant_id)
    assert item["billing_due"] in {"0", "1", "2", "3"}
    assert "stripeCustomerId" not in item


def subscribed(base: str, make_tenant, tier: Tier = Tier.PRO, card: str = "4242424242424242"):
    """A tenant whose customer (made by the control plane) has a card, synced by the pass."""
    tenant, _ = make_tenant(tier=tier)
    give_customer(tenant.tenant_id, customer_with_card(base, email=tenant.email, card=card))
    runner.billing_pass()
    return tenant


def test_the_pass_creates_the_customer(billing_on, make_tenant):
    tenant, _ = make_tenant(tier=Tier.FREE)  # no price: no subscription (see below)
    report = runner.billing_pass()
    assert report.synced >= 1
    item = tenant_item(tenant.tenant_id)
    assert "billing_due" not in item  # done: out of the index
    customer = stripe_get(billing_on, f"/v1/customers/{item['stripeCustomerId']}")
    assert customer["email"] == tenant.email
    assert customer["metadata"] == {"tenant_id": tenant.tenant_id}
    state = storage.state_get(tenant.tenant_id)
    assert state.customer_id == item["stripeCustomerId"]
    assert state.subscription_id == ""
    assert storage.tenant_for_customer(state.customer_id) == tenant.tenant_id


def test_the_pass_subscribes_the_customer_to_its_tiers_price(billing_on, make_tenant):
    tenant = subscribed(billing_on, make_tenant)
    item = tenant_item(tenant.tenant_id)
    assert "billing_due" not in item
    state = storage.state_get(tenant.tenant_id)
    assert state.customer_id == item["stripeCustomerId"]
    assert state.subscription_status == "active"
    subscription = stripe_get(billing_on, f"/v1/subscriptions/{state.subscription_id}")
    assert subscription["customer"] == state.customer_id
    assert subscription["plan"]["id"] == state.price_id == billing_on_price("pro")
    assert storage.tenant_for_customer(state.customer_id) == tenant.tenant_id
    assert state.period_start is not None and state.period_end is not None


def billing_on_price(tier: str) -> str:
    from django.conf import settings

    return settings.OUTPOST_STRIPE_TIER_PRICES[tier]


def test_a_subscription_without_a_card_is_retried_with_the_error_shown(billing_on, make_tenant):
    tenant, _ = make_tenant(tier=Tier.PRO)
    runner.billing_pass()
    state = storage.state_get(tenant.tenant_id)
    assert state.customer_id.startswith("cus_")
    assert "payment method" in state.sync_error  # localstripe's answer; Stripe makes it incomplete
    assert "billing_due" in tenant_item(tenant.tenant_id)


def test_a_tier_change_moves_the_subscription_to_its_price(billing_on, make_tenant, actor):
    tenant = subscribed(billing_on, make_tenant)
    first = storage.state_get(tenant.tenant_id)
    with counting_calls() as calls:
        services.tenant_change_tier(tenant_id=tenant.tenant_id, tier=Tier.STARTER, actor=actor)
    # as without billing: the tenant (GetItem), its keys (Query x2), one transaction
    assert calls.by_operation()["TransactWriteItems"] == 1
    assert "billing_due" in tenant_item(tenant.tenant_id)
    runner.billing_pass()
    state = storage.state_get(tenant.tenant_id)
    assert state.subscription_id == first.subscription_id
    assert state.price_id == billing_on_price("starter")
    subscription = stripe_get(billing_on, f"/v1/subscriptions/{state.subscription_id}")
    assert subscription["plan"]["id"] == billing_on_price("starter")
    assert "billing_due" not in tenant_item(tenant.tenant_id)


def test_a_tier_change_makes_the_same_calls_with_billing_on_or_off(
    billing_on, make_tenant, actor, settings
):
    on_tenant, _ = make_tenant(tier=Tier.PRO)
    with counting_calls() as on:
        services.tenant_change_tier(tenant_id=on_tenant.tenant_id, tier=Tier.STARTER, actor=actor)
    settings.OUTPOST_STRIPE_API_KEY = ""
    off_tenant, _ = make_tenant(tier=Tier.PRO)
    with counting_calls() as off:
        services.tenant_change_tier(tenant_id=off_tenant.tenant_id, tier=Tier.STARTER, actor=actor)
    assert on.by_operation() == off.by_operation()


def test_a_stripe_outage_leaves_the_tenant_marked_and_retried_later(
    billing_on, make_tenant, settings
):
    tenant, _ = make_tenant(tier=Tier.FREE)
    settings.OUTPOST_STRIPE_API_BASE = "http://127.0.0.1:9"
    now = utcnow()
    report = runner.billing_pass(now=now)
    assert report.failed >= 1
    item = tenant_item(tenant.tenant_id)
    assert item["billing_due_at"] > item["createdAt"]  # moved on: the back-off
    assert storage.state_get(tenant.tenant_id).sync_error
    settings.OUTPOST_STRIPE_API_BASE = billing_on
    runner.billing_pass(now=now)  # not due yet: nothing happens
    assert "stripeCustomerId" not in tenant_item(tenant.tenant_id)
    from datetime import timedelta

    runner.billing_pass(now=now + timedelta(minutes=2))
    item = tenant_item(tenant.tenant_id)
    assert item["stripeCustomerId"].startswith("cus_")
    assert "billing_due" not in item
    assert storage.state_get(tenant.tenant_id).sync_error == ""


def test_a_tier_without_a_price_gets_a_customer_and_no_subscription(billing_on, make_tenant):
    tenant, _ = make_tenant(tier=Tier.FREE)
    runner.billing_pass()
    state = storage.state_get(tenant.tenant_id)
    assert state.customer_id.startswith("cus_")
    assert state.subscription_id == ""


@pytest.mark.parametrize("status", ["suspended"])
def test_suspending_deletes_nothing_in_stripe(billing_on, make_tenant, actor, status):
    from tenants.domain import TenantStatus

    tenant = subscribed(billing_on, make_tenant)
    state = storage.state_get(tenant.tenant_id)
    services.tenant_set_status(tenant_id=tenant.tenant_id, status=TenantStatus(status), actor=actor)
    assert "billing_due" not in tenant_item(tenant.tenant_id)  # nothing for Stripe to do
    runner.billing_pass()
    assert stripe_get(billing_on, f"/v1/customers/{state.customer_id}")["id"] == state.customer_id
    subscription = stripe_get(billing_on, f"/v1/subscriptions/{state.subscription_id}")
    assert subscription["status"] == state.subscription_status
