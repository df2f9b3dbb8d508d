"""A tenant user watches a dispatch created through the API run to success, without reloading."""

import io
import json
import re
import sys
import threading
import urllib.request

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from outpost_admin.audit import Actor
from tenants import memberships
from tenants.models import TenantMembership
from tests.conftest import unique_email

PASSWORD = "pw-portal-1"
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
def tenant_user(transactional_db, make_tenant, django_user_model):
    tenant, issued = make_tenant(name="Portal Co")
    user = django_user_model.objects.create_user(unique_email("portal"), password=PASSWORD)
    TenantMembership.objects.create(user=user, tenant_id=tenant.tenant_id)
    return tenant, issued.raw, user


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def create_dispatch(base_url: str, raw_key: str) -> str:
    body = {"agent": "claude", "task": "Say hello from the browser test", "repo": "acme/portal"}
    request = urllib.request.Request(
        f"{base_url}/api/v1/dispatches",
        data=json.dumps(body).encode(),
        headers={"X-API-Key": raw_key, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return json.load(response)["data"]["dispatchId"]


def start_worker(tenant_id: str) -> threading.Thread:
    """The real worker, once over this tenant's pending dispatches, as `make run` starts it."""
    thread = threading.Thread(
        target=call_command,
        args=("run_worker", "--once", "--tenant", tenant_id),
        kwargs={"stdout": io.StringIO()},
        daemon=True,
    )
    thread.start()
    return thread


def test_a_tenant_user_sees_a_dispatch_go_from_pending_to_success(
    page: Page, live_server, tenant_user, agent_commands
):
    tenant, raw_key, user = tenant_user
    log_in(page, user.username, PASSWORD)
    page.wait_for_url("**/home/")
    expect(page.locator("h1")).to_contain_text("Portal Co")

    dispatch_id = create_dispatch(live_server.url, raw_key)
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
