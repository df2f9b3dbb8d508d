"""A person provisions a tenant, copies its key once, uses it, and revokes it."""

import json
import re
import urllib.error
import urllib.request
import uuid

from playwright.sync_api import Page, expect

from tests.conftest import unique_email, unreachable_store

RAW_KEY = re.compile(r"^otp_[0-9A-Za-z]{49}$")


def call_me(base_url: str, raw: str) -> tuple[int, dict]:
    request = urllib.request.Request(f"{base_url}/api/v1/me", headers={"X-API-Key": raw})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_a_staff_member_provisions_a_tenant_uses_its_key_and_revokes_it(
    signed_in_page: Page, live_server
):
    page = signed_in_page
    page.click("text=Provision tenant")
    page.fill("#id_name", "Browser Co")
    page.fill("#id_email", unique_email("browser"))
    page.select_option("#id_tier", "starter")
    page.click("button:has-text('Provision')")

    expect(page.locator("h1")).to_have_text("Tenant provisioned")
    raw = page.locator("#raw-key").inner_text().strip()
    assert RAW_KEY.match(raw)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("button[data-copy='#raw-key']")
    expect(page.locator("button[data-copy='#raw-key']")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == raw
    expect(page).to_have_url(re.compile(r"/tenants/[0-9a-f-]{36}/$"))

    page.reload()
    expect(page.locator("h1")).to_contain_text("Browser Co")
    expect(page.locator("#keys")).to_contain_text(raw[:12])
    assert raw not in page.content()

    status, body = call_me(live_server.url, raw)
    assert status == 200
    assert body["data"]["name"] == "Browser Co" and body["data"]["tier"] == "starter"

    page.click("#keys >> text=Revoke")
    expect(page.locator("h1")).to_contain_text("Revoke key")
    page.click("button:has-text('Revoke key')")
    expect(page.locator("#keys")).to_contain_text("revoked")

    status, body = call_me(live_server.url, raw)
    assert status == 401
    assert body["error"]["code"] == "AUTHENTICATION_ERROR" and "revoked" in body["error"]["message"]


def test_an_anonymous_visitor_is_sent_to_the_login_page(page: Page, transactional_db):
    page.goto("/tenants/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/tenants/$"))
    expect(page.locator("h1")).to_have_text("Log in")


def test_a_bad_provisioning_form_shows_the_errors_next_to_the_fields(signed_in_page: Page):
    page = signed_in_page
    page.goto("/tenants/new/")
    page.fill("#id_name", "   ")
    page.fill("#id_email", "not-an-email")
    page.click("button:has-text('Provision')")
    # Each error is what its field's aria-describedby names, and the cursor is in the first.
    for field, text in (("name", "required"), ("email", "valid email")):
        expect(page.locator(f"#id_{field}_error")).to_contain_text(text)
        described = page.locator(f"#id_{field}").get_attribute("aria-describedby") or ""
        assert f"id_{field}_error" in described.split()
    expect(page.locator("#id_name")).to_be_focused()
    expect(page).to_have_url(re.compile(r"/tenants/new/$"))


def test_the_banner_appears_when_the_store_fails_during_an_htmx_request(signed_in_page: Page):
    page = signed_in_page
    expect(page.locator("h1")).to_have_text("Tenants")
    with unreachable_store():
        page.click("form.filters button[type=submit]")
        expect(page.locator("#banner")).to_contain_text("data store is unavailable")
    expect(page.locator("h1")).to_have_text("Tenants")


def test_load_more_appends_the_next_page_of_tenants(signed_in_page: Page, make_tenant):
    marker = f"browsermore{uuid.uuid4().hex[:8]}"
    for i in range(52):
        make_tenant(name=f"{marker} {i:02d}")
    page = signed_in_page
    page.fill("#id_search", marker)
    page.click("form.filters button[type=submit]")
    rows = page.locator("#tenant-rows tr:not(#load-more)")
    expect(rows).to_have_count(50)
    expect(page).to_have_url(re.compile(rf"search={marker}"))
    page.click("#load-more a")
    expect(rows).to_have_count(52)
    expect(rows.last).to_contain_text(f"{marker} 51")
    expect(page.locator("#load-more")).to_have_count(0)
