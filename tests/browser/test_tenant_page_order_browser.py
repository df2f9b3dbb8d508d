"""Issue 14 point 1 in Chromium: the tenant page starts with what people come for (keys,
users, recent dispatches, a compact usage summary); the charts follow, their number tables
collapsed. It used to be ~11,000 px tall with the keys at y≈10,265."""

import json

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import TENANT_PASSWORD, create_dispatch, log_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def agent_commands(settings):
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": ["true"]})


def top(page: Page, selector: str) -> float:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box["y"]


def test_keys_users_and_dispatches_come_first_and_the_chart_tables_are_collapsed(
    signed_in_page: Page, make_tenant
):
    tenant, _ = make_tenant(name="Page Order Co")
    page = signed_in_page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"/tenants/{tenant.tenant_id}/")
    page.wait_for_load_state("networkidle")  # the charts load after the page
    keys, users = top(page, "#keys-title"), top(page, "#users-title")
    dispatches = top(page, "h2:has-text('Dispatches')")
    charts = top(page, "#usage-charts-title")
    assert top(page, "#usage-title") < keys  # the compact usage summary, then the keys
    assert keys < 1600, keys  # within two screens, not at y≈10,265
    assert keys < users < dispatches < charts
    tables = page.locator("details:has(table)")
    expect(tables.first).to_be_visible()
    assert tables.count() >= 1
    assert all(not tables.nth(n).evaluate("d => d.open") for n in range(tables.count()))


def test_the_tenant_home_shows_today_and_recent_dispatches_before_the_charts(
    browser: Browser, live_server, tenant_user_of
):
    _, raw, user = tenant_user_of("Home Order Co")
    create_dispatch(live_server.url, raw)
    page = browser.new_context(base_url=live_server.url).new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, user.username, TENANT_PASSWORD)
    page.wait_for_url("**/home/")
    page.wait_for_load_state("networkidle")
    today = top(page, "#usage-today-title")
    recent = top(page, "h2:has-text('Recent dispatches')")
    charts = top(page, "h2:has-text('Usage, last 30 days')")
    assert today < recent < charts
    assert recent < 800, recent  # on the first screen
    page.context.close()
