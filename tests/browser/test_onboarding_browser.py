"""Issue 14, points 8 and 9 in Chromium: a suspension says why; a new key shows how to use it."""

import json
import re
import urllib.request

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import TENANT_PASSWORD, log_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def agent_commands(settings):
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": ["true"]})


def test_the_curl_shown_with_a_new_key_is_copied_and_dispatches(
    signed_in_page: Page, live_server, make_tenant
):
    tenant, _ = make_tenant(name="Onboarding Co")
    page = signed_in_page
    page.goto(f"/tenants/{tenant.tenant_id}/")
    page.click("text=New key")
    page.fill("#id_name", "first-key")
    page.click("button:has-text('Create key')")

    raw = page.locator("#raw-key").inner_text().strip()
    expect(page.locator("#curl-example")).to_contain_text(f'-H "X-API-Key: {raw}"')
    expect(page.get_by_role("link", name="API docs")).to_have_attribute("href", "/api/docs/")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("button[data-copy='#curl-example']")
    expect(page.locator("button[data-copy='#curl-example']")).to_have_text("Copied")
    command = page.evaluate("navigator.clipboard.readText()")
    assert command.startswith(f"curl -X POST {live_server.url}/dispatch ")

    # What the copied command sends, sent as it is.
    data = re.search(r"-d '(.*)'$", command)
    assert data
    request = urllib.request.Request(
        f"{live_server.url}/dispatch",
        data=data.group(1).encode(),
        headers={"X-API-Key": raw, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def test_staff_suspend_with_a_reason_and_the_tenants_users_read_it(
    signed_in_page: Page, browser: Browser, live_server, tenant_user_of
):
    tenant, _, user = tenant_user_of("Suspended Browser Co")
    page = signed_in_page
    page.goto(f"/tenants/{tenant.tenant_id}/suspend/")
    page.click("button:has-text('Suspend tenant')")  # the browser asks for the reason first
    expect(page.locator("#id_reason")).to_have_attribute("required", "")
    expect(page).to_have_url(re.compile(rf"/tenants/{tenant.tenant_id}/suspend/$"))
    page.fill("#id_reason", "Unpaid invoice <INV-7>")
    page.click("button:has-text('Suspend tenant')")
    expect(page).to_have_url(re.compile(rf"/tenants/{tenant.tenant_id}/$"))

    context = browser.new_context(base_url=live_server.url)
    member = context.new_page()
    log_in(member, user.username, TENANT_PASSWORD)
    member.wait_for_url("**/home/")
    banner = member.locator("#suspension")
    expect(banner).to_contain_text("This tenant is suspended since ")
    expect(banner).to_contain_text("Reason: Unpaid invoice <INV-7>")
    context.close()


def test_an_invitation_names_the_tenant_and_its_expiry_and_the_link_names_it_again(
    signed_in_page: Page, browser: Browser, live_server, make_tenant
):
    tenant, _ = make_tenant(name="Invited Tenant Co")
    page = signed_in_page
    page.goto(f"/tenants/{tenant.tenant_id}/")
    page.click("text=Invite user")
    page.fill("#id_email", "new.member@example.com")
    page.click("main button:has-text('Invite')")
    expect(page.locator("main .card")).to_contain_text("can now join Invited Tenant Co")
    expect(page.locator("#invite-expiry")).to_contain_text("UTC")
    link = page.locator("#invite-link").inner_text().strip()

    visitor = browser.new_context(base_url=live_server.url).new_page()
    visitor.goto(link)
    expect(visitor.locator("#invited-tenant")).to_have_text("Invited Tenant Co")
    visitor.context.close()


def test_an_empty_history_and_home_say_how_the_first_dispatch_arrives(
    browser: Browser, live_server, tenant_user_of
):
    _, _, user = tenant_user_of("Empty Start Co")
    page = browser.new_context(base_url=live_server.url).new_page()
    log_in(page, user.username, TENANT_PASSWORD)
    page.wait_for_url("**/home/")
    for url in ("/home/", "/dispatches/"):
        page.goto(url)
        empty = page.locator("#dispatch-rows tr.empty")
        expect(empty).to_contain_text("POST /dispatch")
        expect(empty.get_by_role("link", name="API docs")).to_have_attribute("href", "/api/docs/")
    page.context.close()
