"""Issue 14 point 3 in Chromium: a user saves the history's filters as a view, opens it from
the sidebar, a teammate opens the shared link, presets set the period, and deleting asks."""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser, expect

from tenants.models import TenantMembership

from .conftest import TENANT_PASSWORD, create_dispatch, signed_in_as

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def agent_commands(settings):
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": ["true"], "codex": ["true"]})


def test_a_saved_view_is_opened_from_the_sidebar_and_by_a_teammate_s_link(
    browser: Browser, live_server, tenant_user_of
):
    tenant, raw, user = tenant_user_of("Views Co")
    create_dispatch(live_server.url, raw, agent="codex", task="Shown by the view")
    create_dispatch(live_server.url, raw, agent="claude", task="Hidden by the view")
    page = signed_in_as(browser, live_server.url, user.username)

    page.goto("/dispatches/")
    page.select_option("#id_agent", "codex")
    page.click("form.filters button:has-text('Filter')")
    expect(page).to_have_url(re.compile(r"/dispatches/\?.*agent=codex"))
    page.get_by_label("View name").fill("Codex runs")
    page.get_by_label("Share with the team").check()
    page.click("button:has-text('Save view')")
    expect(page.locator("#messages")).to_contain_text("Saved the view “Codex runs”.")
    link = page.locator("#saved-views a", has_text="Codex runs")
    expect(link).to_be_visible()

    page.goto("/dispatches/")
    page.locator("#saved-views a", has_text="Codex runs").click()
    expect(page).to_have_url(f"{live_server.url}/dispatches/?agent=codex")
    expect(page.locator("#dispatch-rows")).to_contain_text("Shown by the view")
    expect(page.locator("#dispatch-rows")).not_to_contain_text("Hidden by the view")
    shared_link = live_server.url + (link.get_attribute("href") or "")

    # A teammate opens the same link and sees it among the team's views.
    mate = get_user_model().objects.create_user("mate@example.com", password=TENANT_PASSWORD)
    TenantMembership.objects.create(user=mate, tenant_id=tenant.tenant_id)
    other = signed_in_as(browser, live_server.url, mate.username)
    other.goto(shared_link)
    expect(other).to_have_url(f"{live_server.url}/dispatches/?agent=codex")
    expect(other.locator("#saved-views")).to_contain_text("Codex runs")

    # Presets keep the filters; the current one is marked.
    page.locator("#saved-views a", has_text="24 h").click()
    expect(page).to_have_url(f"{live_server.url}/dispatches/?agent=codex&period=24h")
    expect(page.locator("#saved-views a[aria-current]")).to_have_text("24 h")
    expect(page.locator("#dispatch-rows")).to_contain_text("Shown by the view")

    # Deleting asks first.
    page.get_by_label("Delete the view Codex runs").click()
    expect(page.locator("h1")).to_have_text("Delete the view “Codex runs”?")
    page.click("button:has-text('Delete view')")
    expect(page.locator("#messages")).to_contain_text("Deleted the view “Codex runs”.")
    expect(page.locator("#saved-views")).not_to_contain_text("Codex runs")


def test_a_bad_view_name_is_shown_beside_its_field(browser: Browser, live_server, tenant_user_of):
    _, _, user = tenant_user_of("Views Errors Co")
    page = signed_in_as(browser, live_server.url, user.username)
    page.goto("/dispatches/?agent=grok")
    page.click("button:has-text('Save view')")
    expect(page.locator("#saved-views")).to_contain_text("This field is required.")
    expect(page).to_have_url(f"{live_server.url}/dispatches/?agent=grok")  # htmx: no navigation
