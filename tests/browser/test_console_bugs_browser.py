"""Issue 14, "Bugs": what a daily user of the console tripped on, each shown in Chromium."""

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import STAFF_PASSWORD, log_in


@pytest.fixture
def tenant_and_key(make_tenant, transactional_db):
    return make_tenant(name="Bugs Browser Co")


# --- 1. messages stay until the next navigation ---------------------------------------------


def test_a_success_message_on_the_tenant_page_outlives_the_usage_charts_load(
    signed_in_page: Page, tenant_and_key
):
    page = signed_in_page
    tenant, _ = tenant_and_key
    page.goto(f"/tenants/{tenant.tenant_id}/")
    page.select_option("#id_tier", "enterprise")
    page.click("button:has-text('Change tier')")
    page.click("button:has-text('Change to enterprise')")
    page.wait_for_url(f"**/tenants/{tenant.tenant_id}/")
    expect(page.locator("#tenant-usage #usage-charts")).to_be_visible()  # the background load
    page.wait_for_load_state("networkidle")
    expect(page.locator("#messages")).to_contain_text("is now on the enterprise tier")


# --- 2. the tenant picker never touches the address bar -------------------------------------


@pytest.mark.parametrize("path", ["/dispatches/", "/usage/", "/audit/"])
def test_typing_in_the_tenant_picker_changes_neither_the_url_nor_the_history(
    signed_in_page: Page, tenant_and_key, path
):
    page = signed_in_page
    page.goto(path)
    before = page.evaluate("history.length")
    page.locator("#id_tenant").press_sequentially("Bugs Brow", delay=30)
    expect(page.locator("#tenant-options option")).not_to_have_count(0)
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(path)
    assert page.evaluate("history.length") == before
    page.reload()
    expect(page.locator("h1")).to_be_visible()  # the page, not a bare <option> fragment
