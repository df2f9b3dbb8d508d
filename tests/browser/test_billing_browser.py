"""The billing section of the tenant page, in Chromium: loaded by htmx, off when no Stripe
key is set, and with billing on, the subscription, the past-due notice and invoices linking
to Stripe's hosted pages, for staff and for the tenant's own user."""

import time

import pytest
from playwright.sync_api import Page, expect

from billing import events, storage
from outpost_admin.dynamo import utcnow
from tests.billing.conftest import billing_on, localstripe  # noqa: F401 - fixtures

from .conftest import TENANT_PASSWORD, log_in


def test_staff_see_that_billing_is_off(signed_in_page: Page, make_tenant, settings):
    settings.OUTPOST_STRIPE_API_KEY = ""
    tenant, _ = make_tenant(name="Unbilled Co")
    signed_in_page.goto(f"/tenants/{tenant.tenant_id}/")
    expect(signed_in_page.locator("#billing-off")).to_contain_text("Billing is off")


def _billed(tenant_id: str) -> None:
    customer = f"cus_{tenant_id[:12]}"
    storage.customer_record(tenant_id, customer)
    now = int(time.time())
    subscription = {
        "id": "sub_browser",
        "customer": customer,
        "status": "active",
        "items": {
            "data": [
                {
                    "id": "si_1",
                    "price": {"id": "price_pro"},
                    "current_period_start": now,
                    "current_period_end": now + 30 * 86400,
                }
            ]
        },
    }
    invoice = {
        "id": "in_browser",
        "customer": customer,
        "number": "OUT-0042",
        "status": "open",
        "amount_due": 9900,
        "currency": "usd",
        "hosted_invoice_url": "https://invoice.stripe.com/i/in_browser",
        "created": now,
    }
    for kind, obj in (
        ("customer.subscription.updated", subscription),
        ("invoice.payment_failed", invoice),
    ):
        event = {
            "id": f"evt_{kind}_{tenant_id}",
            "type": kind,
            "created": now,
            "data": {"object": obj},
        }
        assert events.event_handle(event, now=utcnow()) == "applied"


@pytest.mark.usefixtures("billing_on")
def test_staff_and_the_tenants_user_see_subscription_past_due_and_invoices(
    signed_in_page: Page, tenant_user_of
):
    tenant, _, user = tenant_user_of("Billed Co")
    _billed(tenant.tenant_id)

    signed_in_page.goto(f"/tenants/{tenant.tenant_id}/")
    section = signed_in_page.locator("#billing")
    expect(section.locator("#billing-subscription")).to_contain_text("sub_browser")
    expect(section.locator("#billing-past-due")).to_contain_text("Payment past due")
    link = section.get_by_role("link", name="OUT-0042")
    expect(link).to_have_attribute("href", "https://invoice.stripe.com/i/in_browser")

    signed_in_page.context.clear_cookies()
    log_in(signed_in_page, user.username, TENANT_PASSWORD)
    signed_in_page.wait_for_url("**/home/")
    expect(signed_in_page.locator("#billing-past-due")).to_contain_text("will be suspended")
    expect(signed_in_page.get_by_role("link", name="OUT-0042")).to_be_visible()
