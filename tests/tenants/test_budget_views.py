"""The budget on the staff tenant page (a form: CSRF, field errors, audit) and the banner on
the tenant's own pages."""

import pytest
from django.test import Client
from django.urls import reverse

from outpost_admin import audit
from outpost_admin.dynamo import counting_calls, transact, utcnow
from tenants import budgets, services

from .test_views import HTMX, field_error, html

pytestmark = pytest.mark.django_db
DOLLAR = budgets.MICROS


def budget_url(tenant_id):
    return reverse("tenants:budget", args=[tenant_id])


def spend(tenant_id, micros):
    transact(budgets.record_spend(tenant_id, api_key_id="", micros=micros, now=utcnow()))


def test_the_tenant_page_shows_the_budget_and_its_form(staff_client, make_tenant, actor):
    tenant, _ = make_tenant()
    services.budget_set(
        tenant_id=tenant.tenant_id, hard=250 * DOLLAR, soft=200 * DOLLAR, actor=actor
    )
    spend(tenant.tenant_id, 12_345_678)
    page = html(staff_client.get(reverse("tenants:detail", args=[tenant.tenant_id])))
    assert 'id="budget"' in page
    assert "<strong>$12.35</strong> of a hard budget of $250.00; soft threshold $200.00" in page
    assert 'name="hard_usd"' in page and 'value="250.00"' in page


def test_staff_set_the_budget_with_the_form_and_it_is_audited(staff_client, make_tenant):
    tenant, _ = make_tenant()
    response = staff_client.post(
        budget_url(tenant.tenant_id), {"hard_usd": "99.50", "soft_usd": "80"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("tenants:detail", args=[tenant.tenant_id]) + "#budget"
    budget = budgets.budget_get(tenant.tenant_id, now=utcnow())
    assert (budget.hard, budget.soft) == (99_500_000, 80 * DOLLAR)
    (event,) = audit.audit_list(tenant_id=tenant.tenant_id, action="tenant.budget_set").items
    assert event.actor == "staff" and event.metadata["hardUsd"] == 99.5
    # Blank fields remove both.
    assert (
        staff_client.post(
            budget_url(tenant.tenant_id), {"hard_usd": "", "soft_usd": ""}
        ).status_code
        == 302
    )
    assert budgets.budget_get(tenant.tenant_id, now=utcnow()).hard is None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"hard_usd": "10", "soft_usd": "20"}, "soft_usd"),
        ({"hard_usd": "-1", "soft_usd": ""}, "hard_usd"),
        ({"hard_usd": "ten", "soft_usd": ""}, "hard_usd"),
        ({"hard_usd": "1.005", "soft_usd": ""}, "hard_usd"),
        ({"hard_usd": "1e12", "soft_usd": ""}, "hard_usd"),
    ],
)
def test_bad_input_re_renders_the_form_with_the_fields_error(
    staff_client, make_tenant, data, field
):
    tenant, _ = make_tenant()
    response = staff_client.post(budget_url(tenant.tenant_id), data)
    assert response.status_code == 400
    assert field_error(response, field)
    assert budgets.budget_get(tenant.tenant_id, now=utcnow()).hard is None
    assert audit.audit_list(tenant_id=tenant.tenant_id, action="tenant.budget_set").items == []


def test_a_post_without_the_csrf_token_is_refused(staff_user, make_tenant):
    tenant, _ = make_tenant()
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert client.post(budget_url(tenant.tenant_id), {"hard_usd": "5"}).status_code == 403
    assert budgets.budget_get(tenant.tenant_id, now=utcnow()).hard is None


def test_an_htmx_request_gets_the_form_alone(staff_client, make_tenant):
    tenant, _ = make_tenant()
    response = staff_client.get(budget_url(tenant.tenant_id), headers=HTMX)
    assert "<html" not in html(response) and 'name="hard_usd"' in html(response)


def test_a_tenants_users_see_a_banner_once_the_soft_threshold_is_crossed(
    login_member, make_tenant, actor
):
    tenant, _ = make_tenant()
    other, _ = make_tenant()
    member = login_member(tenant.tenant_id)
    outsider = login_member(other.tenant_id)
    services.budget_set(tenant_id=tenant.tenant_id, hard=10 * DOLLAR, soft=5 * DOLLAR, actor=actor)
    spend(tenant.tenant_id, 4 * DOLLAR)
    assert 'id="budget-banner"' not in html(member.get("/home/"))
    spend(tenant.tenant_id, 2 * DOLLAR)
    page = html(member.get("/home/"))
    assert 'id="budget-banner"' in page and "nearly spent" in page
    assert 'id="budget-banner"' not in html(outsider.get("/home/"))  # its own budget only
    spend(tenant.tenant_id, 5 * DOLLAR)
    page = html(member.get("/home/"))
    assert "The monthly budget is spent" in page and "New dispatches are refused" in page


def test_month_to_date_spend_and_its_projection_on_the_tenant_page_and_home(
    staff_client, login_member, make_tenant, actor
):
    tenant, _ = make_tenant()
    spend(tenant.tenant_id, 3 * DOLLAR)
    budget = budgets.budget_get(tenant.tenant_id, now=utcnow())
    projected = budgets.usd(budget.projection(utcnow()))
    staff_page = html(staff_client.get(reverse("tenants:detail", args=[tenant.tenant_id])))
    assert "Spent in" in staff_page and "<strong>$3.00</strong>" in staff_page
    assert f'<strong id="budget-projection">{projected}</strong>' in staff_page
    home = html(login_member(tenant.tenant_id).get("/home/"))
    assert 'id="spend"' in home and "<strong>$3.00</strong> in" in home and projected in home


def test_the_projection_is_the_pace_so_far_over_the_whole_month():
    from datetime import UTC, datetime

    budget = budgets.Budget(month="2027-02", spent=10 * DOLLAR)
    halfway = datetime(2027, 2, 15, tzinfo=UTC)  # 14 of February's 28 days gone
    assert budget.projection(halfway) == 20 * DOLLAR
    first_minute = datetime(2027, 2, 1, 0, 1, tzinfo=UTC)  # counted as an hour at least
    assert budget.projection(first_minute) == 10 * DOLLAR * 28 * 24
    assert budget.projection(datetime(2027, 3, 5, tzinfo=UTC)) == 10 * DOLLAR  # month over


def test_the_home_reads_the_tenant_its_day_and_its_budget_in_one_batch(
    login_member, make_tenant, actor
):
    tenant, _ = make_tenant()
    services.budget_set(tenant_id=tenant.tenant_id, hard=10 * DOLLAR, soft=5 * DOLLAR, actor=actor)
    member = login_member(tenant.tenant_id)
    with counting_calls() as calls:
        page = html(member.get("/home/"))
    assert calls.by_operation() == {"BatchGetItem": 1, "Query": 1}  # + the recent dispatches
    assert 'id="spend"' in page


def test_the_staff_tenant_page_reads_the_tenant_its_day_and_budget_in_one_batch(
    staff_client, make_tenant, actor
):
    tenant, _ = make_tenant()
    services.budget_set(tenant_id=tenant.tenant_id, hard=10 * DOLLAR, soft=5 * DOLLAR, actor=actor)
    with counting_calls() as calls:
        page = html(staff_client.get(reverse("tenants:detail", args=[tenant.tenant_id])))
    # The tenant, today's count and the budget in one batch; the keys; the audit log.
    assert calls.by_operation() == {"BatchGetItem": 1, "Query": 2}
    assert 'id="budget-title"' in page


def test_staff_set_a_key_s_budget_on_its_own_page_and_another_tenant_s_key_is_a_404(
    staff_client, make_tenant
):
    tenant, issued = make_tenant()
    _, other_issued = make_tenant()
    key_id = issued.key.api_key_id
    page = html(staff_client.get(reverse("tenants:detail", args=[tenant.tenant_id])))
    url = reverse("tenants:key-budget", args=[tenant.tenant_id, key_id])
    assert f'href="{url}"' in page  # each key's row links to its budget
    form = html(staff_client.get(url))
    assert "Budget of the key" in form and 'name="hard_usd"' in form
    response = staff_client.post(url, {"hard_usd": "5", "soft_usd": "4"})
    assert response.status_code == 302
    key_budget = budgets.budget_get(tenant.tenant_id, api_key_id=key_id, now=utcnow())
    assert (key_budget.hard, key_budget.soft) == (5 * DOLLAR, 4 * DOLLAR)
    assert budgets.budget_get(tenant.tenant_id, now=utcnow()).hard is None  # the tenant's: none
    [event] = audit.audit_list(tenant_id=tenant.tenant_id, action="key.budget_set").items
    assert event.resource == f"key/{key_id}" and event.metadata["hardUsd"] == 5
    bad = staff_client.post(url, {"hard_usd": "1", "soft_usd": "2"})
    assert bad.status_code == 400 and "must not be above the hard budget" in html(bad)
    foreign = reverse("tenants:key-budget", args=[tenant.tenant_id, other_issued.key.api_key_id])
    assert staff_client.get(foreign).status_code == 404
    assert staff_client.post(foreign, {"hard_usd": "1", "soft_usd": ""}).status_code == 404
