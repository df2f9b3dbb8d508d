"""The billing section of the tenant page: staff see any tenant's (/billing/tenants/<id>/),
a tenant user their own (/billing/, the tenant from the signed-in user), anyone else a 404;
an htmx request gets the section alone."""

import pytest

from billing import storage
from outpost_admin.dynamo import counting_calls, utcnow
from tenants.domain import Tier

from .test_webhook import _event, _invoice, _subscription, post


@pytest.fixture
def billed(billing_on, make_tenant, client):
    tenant, _ = make_tenant(tier=Tier.PRO)
    storage.customer_record(tenant.tenant_id, f"cus_{tenant.tenant_id[:12]}")
    customer = f"cus_{tenant.tenant_id[:12]}"
    post(client, _event("customer.subscription.updated", _subscription(customer)))
    post(client, _event("invoice.payment_failed", _invoice(customer, "open")))
    return tenant


def url(tenant) -> str:
    return f"/billing/tenants/{tenant.tenant_id}/"


def test_staff_see_the_subscription_its_period_and_invoices(staff_client, billed):
    with counting_calls() as calls:
        response = staff_client.get(url(billed))
    assert response.status_code == 200
    page = response.content.decode()
    assert "sub_123" in page and "active" in page
    assert "Current period 2027-01-15 to 2027-02-14" in page
    assert 'href="https://invoice.stripe.com/i/in_1"' in page and "OUT-0001" in page
    assert "99.00 USD" in page
    assert "Payment past due" in page
    assert calls.by_operation() == {"GetItem": 1, "Query": 1}


def test_a_tenant_user_sees_their_own(login_member, billed):
    response = login_member(billed.tenant_id).get("/billing/")
    assert response.status_code == 200
    assert "https://invoice.stripe.com/i/in_1" in response.content.decode()


def test_it_returns_404_to_another_tenants_user(login_member, make_tenant, billed):
    other, _ = make_tenant()
    member = login_member(other.tenant_id)
    assert member.get(url(billed)).status_code == 404
    assert "in_1" not in member.get("/billing/").content.decode()  # their own: no invoices


def test_anonymous_users_are_sent_to_sign_in(client, billed):
    response = client.get(url(billed))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_htmx_request_gets_the_section_alone(staff_client, billed):
    response = staff_client.get(url(billed), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert page.lstrip().startswith('<section class="card" id="billing"')
    assert "<html" not in page
    assert "HX-Request" in response["Vary"]


def test_with_billing_off_the_page_says_so_and_reads_nothing(staff_client, make_tenant, settings):
    settings.OUTPOST_STRIPE_API_KEY = ""
    tenant, _ = make_tenant()
    with counting_calls() as calls:
        response = staff_client.get(url(tenant))
    assert "Billing is off" in response.content.decode()
    assert calls.count == 0


def test_the_tenant_page_and_the_tenants_home_load_the_section(
    staff_client, make_tenant, login_member
):
    tenant, _ = make_tenant()
    page = staff_client.get(f"/tenants/{tenant.tenant_id}/").content.decode()
    assert f'hx-get="/billing/tenants/{tenant.tenant_id}/"' in page
    home = login_member(tenant.tenant_id).get("/home/").content.decode()
    assert 'hx-get="/billing/"' in home


def test_the_fleet_page_shows_the_meters_backlog(staff_client, billing_on, settings):
    storage.meter_status_save(backlog=3, oldest_due=None, sent=0, error="", at=utcnow())
    page = staff_client.get("/fleet/").content.decode()
    assert 'id="fleet-meter" data-backlog="3"' in page
    settings.OUTPOST_STRIPE_API_KEY = ""
    assert "Billing is off" in staff_client.get("/fleet/").content.decode()
