"""Issue 14 point 4 in Chromium: cancel all that a filter matches (confirmation with N and a
sample, then a progress page that fills in by itself), and the header checkbox."""

import json

import pytest
from playwright.sync_api import Browser, expect

from .conftest import create_dispatch, signed_in_as

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def agent_commands(settings):
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": ["true"], "grok": ["true"]})


def test_cancel_all_matching_confirms_n_and_shows_the_progress(
    browser: Browser, live_server, tenant_user_of
):
    _, raw, user = tenant_user_of("Bulk Co")
    grok = [create_dispatch(live_server.url, raw, agent="grok") for _ in range(3)]
    kept = create_dispatch(live_server.url, raw, agent="claude")
    page = signed_in_as(browser, live_server.url, user.username)
    page.goto("/dispatches/?agent=grok")
    page.get_by_role("link", name="Cancel…").click()
    expect(page.locator("h1")).to_have_text("Cancel all 3 dispatches matching this filter?")
    for dispatch_id in grok:
        expect(page.locator("#bulk-sample")).to_contain_text(dispatch_id)
    expect(page.locator("#bulk-sample")).not_to_contain_text(kept)
    page.click("button:has-text('Cancel 3 dispatches')")
    expect(page.locator("#bulk-finished")).to_have_text("Finished.", timeout=20_000)
    expect(page.locator("#bulk-done")).to_have_text("3")
    expect(page.locator("#bulk-remaining")).to_have_text("0")
    page.goto("/dispatches/?agent=grok")
    for dispatch_id in grok:
        expect(page.locator(f"#dispatch-{dispatch_id}")).to_have_attribute(
            "data-status", "cancelled"
        )


def test_the_header_checkbox_selects_every_row_shown(browser: Browser, live_server, tenant_user_of):
    _, raw, user = tenant_user_of("Header Box Co")
    ids = [create_dispatch(live_server.url, raw) for _ in range(2)]
    page = signed_in_as(browser, live_server.url, user.username)
    page.goto("/dispatches/")
    page.get_by_label("Select every pending or running dispatch shown").check()
    for dispatch_id in ids:
        expect(page.get_by_label(f"Select {dispatch_id}")).to_be_checked()
    page.click("button:has-text('Cancel selected')")
    expect(page.locator("h1")).to_have_text("Cancel 2 dispatches?")
