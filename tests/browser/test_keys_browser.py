"""Issue 14, "Make the common work fast", points 6 (a page per key) and 7 (operator keys in
their own guarded area) in Chromium."""

import json
import sys
import uuid

import pytest
from playwright.sync_api import Page, expect

from tenants import authentication
from tenants.domain import Tier
from tenants.selectors import key_list
from tests.conftest import roll_up

from .conftest import STAFF_PASSWORD, TENANT_PASSWORD, create_dispatch, log_in
from .test_console_browser import axe_violations, no_sideways_scroll


@pytest.fixture(autouse=True)
def agent_commands(settings):
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": [sys.executable, "-c", "print(1)"]})


@pytest.fixture
def used_key(tenant_user_of, live_server):
    """A tenant user's tenant whose key created a dispatch through the API, flushed and
    counted (what the key-usage flush and the stream follower do within a minute)."""
    tenant, raw_key, user = tenant_user_of("Key Page Browser Co")
    dispatch_id = create_dispatch(live_server.url, raw_key)
    authentication.usage.flush_all()
    roll_up()
    return tenant, raw_key, user, dispatch_id


def test_staff_open_a_key_from_the_tenant_page_and_see_its_requests(signed_in_page: Page, used_key):
    page = signed_in_page
    tenant, _, _, dispatch_id = used_key
    page.goto(f"/tenants/{tenant.tenant_id}/")
    page.locator("#keys tbody tr").first.locator("td").nth(1).get_by_role("link").click()
    expect(page.locator("h1")).to_contain_text("Key")
    rows = page.locator("#key-requests tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("POST /api/v1/dispatches")
    expect(rows.first).to_contain_text("201")
    expect(page.locator("#key-dispatches")).to_have_text("1")
    expect(page.locator("#key-last-use")).not_to_have_text("never")
    rows.first.get_by_role("link").click()
    page.wait_for_url(f"**/dispatches/{dispatch_id}/")


def test_a_tenant_user_finds_their_key_from_usage_and_no_other_tenants(
    page: Page, used_key, make_tenant
):
    _, _, user, _ = used_key
    _, other_key = make_tenant(name="Someone Else Co", tier=Tier.FREE)
    log_in(page, user.username, TENANT_PASSWORD)
    page.wait_for_url("**/home/")
    page.goto("/usage/")
    page.locator("#usage-key-pages a").first.click()
    expect(page.locator("#key-requests tbody tr")).to_have_count(1)
    expect(page.locator("#key-scopes")).to_contain_text("dispatch")
    response = page.goto(f"/usage/keys/{other_key.key.api_key_id}/")
    assert response is not None and response.status == 404


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_key_page_at_390_px_fits_and_passes_axe(
    browser, live_server, staff_login, used_key, scheme
):
    tenant = used_key[0]
    key_id = key_list(tenant_id=tenant.tenant_id)[0].api_key_id
    context = browser.new_context(
        base_url=live_server.url,
        color_scheme=scheme,
        bypass_csp=True,
        viewport={"width": 390, "height": 844},
    )
    page = context.new_page()
    log_in(page, staff_login.username, STAFF_PASSWORD)
    page.wait_for_url("**/tenants/")
    page.goto(f"/usage/keys/{key_id}/")
    expect(page.locator("#key-requests tbody tr")).to_have_count(1)
    assert no_sideways_scroll(page) <= 0
    assert axe_violations(page) == []
    page.goto(f"/operator-keys/?tenant={tenant.tenant_id}")
    page.get_by_label("Name", exact=True).fill("phone-bot")
    page.get_by_label("Type the key name to confirm").fill("phone-bo")
    page.click("button:has-text('Issue operator key')")
    expect(page.locator("#id_confirm_error")).to_be_visible()  # the form with its error
    assert no_sideways_scroll(page) <= 0
    assert axe_violations(page) == []
    context.close()


# --- 7. operator keys ------------------------------------------------------------------------


def test_staff_issue_an_operator_key_only_after_typing_its_name(signed_in_page: Page, make_tenant):
    page = signed_in_page
    tenant, _ = make_tenant(name="Operator Home Co")
    name = f"fleet-bot-{uuid.uuid4().hex[:8]}"  # the operator list is every tenant's
    page.goto(f"/tenants/{tenant.tenant_id}/keys/new/")
    expect(page.locator("input[value=admin]")).to_have_count(1)
    expect(page.locator("input[value=operator]")).to_have_count(0)  # not on the ordinary form
    page.click("#site-nav a:has-text('Operator keys')")
    page.wait_for_url("**/operator-keys/")
    expect(page.locator("#operator-warning")).to_contain_text("every tenant")
    page.get_by_label("Tenant").fill(tenant.tenant_id)
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Type the key name to confirm").fill("fleet bot")
    page.click("button:has-text('Issue operator key')")
    expect(page.locator("#id_confirm_error")).to_contain_text("type it exactly")
    expect(page.locator("#raw-key")).to_have_count(0)
    page.get_by_label("Type the key name to confirm").fill(name)
    page.click("button:has-text('Issue operator key')")
    expect(page.locator("#raw-key")).to_contain_text("otp_")  # shown once
    page.click("#site-nav a:has-text('Operator keys')")
    row = page.locator("#operator-keys tbody tr", has_text=name)
    expect(row).to_contain_text("Operator Home Co")
    expect(row.locator(".badge.operator")).to_be_visible()
    row.get_by_role("link", name="Operator Home Co").click()
    key_row = page.locator("#keys tbody tr", has_text=name)
    expect(key_row.locator(".badge.operator")).to_be_visible()  # badged in the tenant's list
    expect(
        page.locator("#keys tbody tr", has_text="default").locator(".badge.operator")
    ).to_have_count(0)
