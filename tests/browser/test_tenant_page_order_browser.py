"""Issue 14 point 1 in Chromium: the tenant page starts with what people come for (keys,
users, recent dispatches, a compact usage summary); the charts follow, their number tables
collapsed. It used to be ~11,000 px tall with the keys at y≈10,265."""

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.django_db(transaction=True)


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
