"""Budgets as people meet them: staff set one on the tenant page (a mistake is shown next to
its field), the tenant's dispatches are refused once it is spent, and its users see why."""

import json
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from outpost_admin.audit import Actor
from outpost_admin.dynamo import transact, utcnow
from tenants import budgets, services

from .conftest import STAFF_PASSWORD, TENANT_PASSWORD, log_in


@pytest.fixture(autouse=True)
def agent_commands(settings):
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": ["true"]})


def post_dispatch(base_url: str, raw_key: str) -> tuple[int, dict]:
    body = {"agent": "claude", "task": "Say hello from the budget test"}
    request = urllib.request.Request(
        f"{base_url}/api/v1/dispatches",
        data=json.dumps(body).encode(),
        headers={"X-API-Key": raw_key, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_staff_set_a_budget_and_the_tenants_users_see_it_spent(
    browser, live_server, staff_login, tenant_user_of
):
    tenant, raw_key, user = tenant_user_of("Budget Browser Co")
    staff = browser.new_context(base_url=live_server.url)
    page = staff.new_page()
    log_in(page, staff_login.username, STAFF_PASSWORD)
    page.wait_for_url("**/tenants/")
    page.goto(f"/tenants/{tenant.tenant_id}/")
    budget = page.locator("#budget")
    expect(budget).to_contain_text("no hard budget")
    budget.get_by_label("Hard budget (USD a month)").fill("10")
    budget.get_by_label("Soft threshold (USD a month)").fill("20")
    budget.locator("button:has-text('Save the budget')").click()
    expect(page.locator("#id_soft_usd_error")).to_contain_text("not be above the hard budget")
    assert page.get_attribute("#id_soft_usd", "aria-invalid") == "true"
    page.fill("#id_soft_usd", "8")
    page.click("main button:has-text('Save the budget')")
    expect(page.locator("#budget-summary")).to_contain_text("of a hard budget of $10.00")
    expect(page.locator("#budget-summary")).to_contain_text("soft threshold $8.00")
    staff.close()

    assert post_dispatch(live_server.url, raw_key)[0] == 201
    month_spend = budgets.record_spend(
        tenant.tenant_id, api_key_id="", micros=10 * budgets.MICROS, now=utcnow()
    )
    transact(month_spend)
    status, body = post_dispatch(live_server.url, raw_key)
    assert status == 429 and body["error"]["code"] == "BUDGET_EXCEEDED"

    member = browser.new_context(base_url=live_server.url)
    page = member.new_page()
    log_in(page, user.username, TENANT_PASSWORD)
    page.wait_for_url("**/home/")
    banner = page.locator("#budget-banner")
    expect(banner).to_contain_text("The monthly budget is spent")
    expect(banner).to_contain_text("$10.00 of $10.00")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/home/")  # the banner rides the home's own read; the history adds none
    expect(page.locator("#budget-banner")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0

    # Raised by staff: the banner goes (spent is under the soft threshold of the new budget).
    services.budget_set(
        tenant_id=tenant.tenant_id,
        hard=100 * budgets.MICROS,
        soft=50 * budgets.MICROS,
        actor=Actor(name="browser-test"),
    )
    page.goto("/home/")
    expect(page.locator("#budget-banner")).to_have_count(0)
    assert post_dispatch(live_server.url, raw_key)[0] == 201
    member.close()
