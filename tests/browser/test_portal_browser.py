"""A tenant user watches a dispatch created through the API run to success, without reloading."""

import json
import re
import sys

import pytest
from playwright.sync_api import Page, expect

from outpost_admin.audit import Actor
from tenants import memberships
from tests.conftest import unique_email

from .conftest import TENANT_PASSWORD, create_dispatch, log_in, start_worker

# The "agent": prints, works for a moment (so the page sees it running), prints again.
AGENT = [
    sys.executable,
    "-c",
    "import os, time; print('hello from', os.environ['DISPATCH_ID'], flush=True); "
    "time.sleep(1.5); print('all done')",
]
# Every status the row shows, recorded in the page: a reload would lose it.
WATCH_ROW = """id => {
  window.seenStatuses = [];
  const record = () => {
    const row = document.getElementById('dispatch-' + id);
    const last = window.seenStatuses[window.seenStatuses.length - 1];
    if (row && row.dataset.status !== last) window.seenStatuses.push(row.dataset.status);
  };
  record();
  new MutationObserver(record).observe(document.getElementById('dispatch-rows'),
                                       {childList: true, subtree: true, attributes: true});
}"""


@pytest.fixture
def agent_commands(settings):
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": AGENT})


@pytest.fixture
def tenant_user(tenant_user_of):
    return tenant_user_of("Portal Co")


def test_a_tenant_user_sees_a_dispatch_go_from_pending_to_success(
    page: Page, live_server, tenant_user, agent_commands
):
    tenant, raw_key, user = tenant_user
    log_in(page, user.username, TENANT_PASSWORD)
    page.wait_for_url("**/home/")
    expect(page.locator("h1")).to_contain_text("Portal Co")

    dispatch_id = create_dispatch(live_server.url, raw_key, repo="acme/portal")
    page.click("header nav >> text=Dispatches")
    page.wait_for_url("**/dispatches/")
    row = page.locator(f"#dispatch-{dispatch_id}")
    expect(row).to_have_attribute("data-status", "pending")
    page.evaluate(WATCH_ROW, dispatch_id)

    worker = start_worker(tenant.tenant_id)
    expect(row).to_have_attribute("data-status", "success", timeout=20_000)
    expect(row.locator(".badge")).to_have_text("success")
    seen = page.evaluate("window.seenStatuses")
    assert seen[0] == "pending" and seen[-1] == "success", seen
    worker.join(timeout=20)
    assert not worker.is_alive()

    row.locator(f"a:has-text('{dispatch_id}')").click()
    page.wait_for_url(f"**/dispatches/{dispatch_id}/")
    expect(page.locator("#dispatch-status")).to_have_text("success")
    expect(page.locator("#dispatch-log")).to_contain_text(f"hello from {dispatch_id}")
    expect(page.locator("#dispatch-log")).to_contain_text("all done")
    expect(page.locator("#exit-code")).to_have_text("0")
    expect(page.locator("text=Cancel dispatch")).to_have_count(0)


def test_an_invited_user_sets_a_password_and_lands_on_their_home(
    page: Page, live_server, transactional_db, make_tenant
):
    tenant, _ = make_tenant(name="Invited Co")
    email = unique_email("invited")
    invite = memberships.tenant_user_invite(
        tenant_id=tenant.tenant_id, email=email, actor=Actor(name="browser-staff")
    )
    page.goto(invite.path)
    page.fill("#id_new_password1", "Browser-pass-2468")
    page.fill("#id_new_password2", "Browser-pass-2468")
    page.click("button[type=submit]")
    page.wait_for_url("**/home/")
    expect(page.locator("h1")).to_contain_text("Invited Co")
    expect(page.locator("header")).to_contain_text(email)

    page.goto(invite.path)
    expect(page.locator("h1")).to_have_text("This invite link does not work")
    assert re.search(r"/accounts/invite/", page.url)
