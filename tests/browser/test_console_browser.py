"""The console in Chromium: live history, a log that follows, phones, dark mode, accessibility.

axe-core comes from npm (pinned in package.json) and is injected from node_modules by the
test; the page itself ships no test code.
"""

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page, expect

from dispatches import bulk, storage
from dispatches import lifecycle as services
from dispatches.domain import DispatchStatus
from dispatches.models import SavedView
from outpost_admin.audit import Actor
from outpost_admin.dynamo import transact, utcnow
from tenants import budgets, key_requests, memberships
from tenants import services as budget_services
from tenants import services as tenant_services
from tenants.domain import TenantStatus
from tenants.key_requests import KeyRequest
from tenants.selectors import key_list
from tests.conftest import unique_email

from .conftest import STAFF_PASSWORD, TENANT_PASSWORD, create_dispatch, log_in, start_worker

AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
# An agent that writes enough to fill the log box, then more, a line at a time.
CHATTY = [
    sys.executable,
    "-c",
    "import time\n"
    "for i in range(80): print('warming up line', i, flush=True)\n"
    "for i in range(12):\n"
    "    time.sleep(0.5); print('progress', i, flush=True)\n"
    "print('all done', flush=True)",
]


@pytest.fixture(autouse=True)
def agent_commands(settings):
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": CHATTY})


@pytest.fixture
def tenant_user(tenant_user_of):
    return tenant_user_of("Console Browser Co")


# --- live history and the log -------------------------------------------------------------


def test_a_new_dispatch_appears_on_an_open_history_page_without_reload(
    page: Page, live_server, tenant_user
):
    _, raw_key, user = tenant_user
    log_in(page, user.username, TENANT_PASSWORD)
    page.wait_for_url("**/home/")
    page.goto("/dispatches/")
    page.evaluate("window.sameDocument = true")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/dispatches/" in r.url else None)
    first = create_dispatch(live_server.url, raw_key)
    expect(page.locator(f"#dispatch-{first}")).to_be_visible(timeout=15_000)
    second = create_dispatch(live_server.url, raw_key, task="And another one, please")
    expect(page.locator(f"#dispatch-{second}")).to_be_visible(timeout=15_000)
    rows = page.locator("#dispatch-rows tr[id^=dispatch-]")
    expect(rows.first).to_have_id(f"dispatch-{second}")  # newest first
    assert page.evaluate("window.sameDocument") is True  # no reload happened
    assert all("/dispatches/live/" in url for url in requests)  # one request per refresh


def test_the_tenant_home_shows_new_and_changed_rows(page: Page, live_server, tenant_user):
    _, raw_key, user = tenant_user
    log_in(page, user.username, TENANT_PASSWORD)
    page.wait_for_url("**/home/")
    dispatch_id = create_dispatch(live_server.url, raw_key)
    row = page.locator(f"#dispatch-{dispatch_id}")
    expect(row).to_have_attribute("data-status", "pending", timeout=15_000)
    services.dispatch_cancel(dispatch=storage.dispatch_get(dispatch_id), actor=_actor())
    expect(row).to_have_attribute("data-status", "cancelled", timeout=15_000)


def _actor():
    return Actor(name="browser-test")


def test_the_log_stays_pinned_then_stays_put_when_the_reader_scrolls_up(
    page: Page, live_server, tenant_user, agent_commands
):
    tenant, raw_key, user = tenant_user
    log_in(page, user.username, TENANT_PASSWORD)
    page.wait_for_url("**/home/")
    dispatch_id = create_dispatch(live_server.url, raw_key)
    page.goto(f"/dispatches/{dispatch_id}/")
    worker = start_worker(tenant.tenant_id)
    log = page.locator("#dispatch-log")
    expect(log).to_contain_text("progress 1", timeout=20_000)
    gap = "el => el.scrollHeight - el.scrollTop - el.clientHeight"
    assert log.evaluate("el => el.scrollHeight > el.clientHeight")  # there is something to scroll
    assert log.evaluate(gap) < 8  # pinned to the bottom while output arrives
    expect(page.locator("#log-state")).to_have_text("following")

    log.evaluate("el => { el.scrollTop = 40; el.dispatchEvent(new Event('scroll')); }")
    expect(page.locator("#log-state")).to_contain_text("paused")
    before = log.inner_text()
    expect(log).not_to_have_text(before, timeout=10_000)  # more output arrived...
    assert log.evaluate("el => el.scrollTop") == 40  # ...and the view did not move
    expect(log).to_contain_text("all done", timeout=20_000)
    assert log.inner_text().count("warming up line 0\n") == 1  # appended, never re-sent
    worker.join(timeout=20)
    expect(page.locator("#dispatch-status")).to_have_text("success", timeout=10_000)
    expect(page.locator("#status-announcer")).to_have_text("Status: success")
    download = page.get_attribute("a:has-text('Download')", "href")
    assert download == f"/dispatches/{dispatch_id}/log.txt"


# --- phones and the dark ------------------------------------------------------------------------


@pytest.fixture
def staff_page(browser: Browser, live_server, staff_login) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    log_in(page, staff_login.username, STAFF_PASSWORD)
    page.wait_for_url("**/tenants/")
    yield page
    context.close()


@pytest.fixture
def console_data(make_tenant, transactional_db, staff_login):
    """A tenant with a finished dispatch, a pending one and an invited user; staff's saved
    view of the history."""
    tenant, issued = make_tenant(name="Phone Width Corporation International")
    done = services.dispatch_create(
        tenant_id=tenant.tenant_id,
        api_key_id=issued.key.api_key_id,
        limits=tenant.limits,
        data=services.DispatchInput(
            agent="claude",
            task="A task description that is long enough to wrap on a phone screen " * 3,
            model_id="claude-opus-4-5-20251101",
            repo="a-rather-long-organisation/an-even-longer-repository-name",
            branch="feature/with-a-long-branch-name",
            timeout_seconds=600,
        ),
        body_hash="x",
        render=lambda d: {},
        actor=_actor(),
    )
    storage.log_append(done, seq=0, text="x" * 300 + "\n", now=utcnow())
    services.dispatch_finish(done, status=DispatchStatus.FAILED, exit_code=1, error_message="boom")
    pending = services.dispatch_create(
        tenant_id=tenant.tenant_id,
        api_key_id=issued.key.api_key_id,
        limits=tenant.limits,
        data=services.DispatchInput(
            agent="claude",
            task="Still waiting here",
            model_id="claude-opus-4-5-20251101",
            timeout_seconds=600,
        ),
        body_hash="y",
        render=lambda d: {},
        actor=_actor(),
    )
    # A request the key made, as the key-usage flush records it (the key page's table).
    request = KeyRequest(utcnow(), "POST", "/api/v1/dispatches", 201, done.dispatch_id)
    key_requests.requests_add(tenant.tenant_id, issued.key.api_key_id, [request])
    view = SavedView.objects.create(
        owner=staff_login, name="Failed this week", query="status=failed&period=7d", shared=True
    )
    job = bulk.job_start(
        tenant_id=tenant.tenant_id, action="cancel", dispatch_ids=[], query="", actor=_actor()
    )
    invite = memberships.tenant_user_invite(
        tenant_id=tenant.tenant_id,
        email=unique_email("invited"),
        actor=_actor(),
        tenant_name=tenant.name,
    )
    return tenant, issued, done.dispatch_id, pending.dispatch_id, (view.pk, job, invite.path)


def staff_pages(tenant, issued, done_id, pending_id, made) -> list[str]:
    view_id, job_id, _ = made
    tid, kid = tenant.tenant_id, issued.key.api_key_id
    return [
        "/tenants/",
        "/tenants/new/",
        f"/tenants/{tid}/",
        f"/tenants/{tid}/budget/",
        f"/tenants/{tid}/keys/new/",
        f"/tenants/{tid}/keys/{kid}/rotate/",
        f"/tenants/{tid}/keys/{kid}/revoke/",
        f"/tenants/{tid}/keys/{kid}/budget/",
        f"/tenants/{tid}/suspend/",
        f"/tenants/{tid}/users/invite/",
        "/dispatches/",
        f"/dispatches/?tenant={tid}",
        f"/dispatches/{done_id}/",
        f"/dispatches/{done_id}/rerun/",
        f"/dispatches/{pending_id}/cancel/",
        f"/dispatches/cancel/?ids={pending_id}",
        "/dispatches/?status=failed&period=7d",
        f"/dispatches/views/{view_id}/delete/",
        f"/dispatches/bulk/cancel/?tenant={tid}",
        f"/dispatches/bulk/rerun/?tenant={tid}",
        f"/dispatches/bulk/{tid}/{job_id}/",
        "/audit/",
        "/usage/",
        f"/usage/?tenant={tid}&range=7",
        f"/usage/keys/{kid}/",
        "/operator-keys/",
        f"/billing/tenants/{tid}/",
        "/fleet/",
    ]


def no_sideways_scroll(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


Scheme = Literal["light", "dark"]


@pytest.fixture
def visits(staff_login, console_data, tenant_user, tenant_user_of):
    """Who sees which pages, for the axe and 390 px runs: anonymous visitors, staff, a
    tenant's user (its budget spent: the banner shows) and a suspended tenant's user."""
    tenant_id, user = tenant_user[0].tenant_id, tenant_user[2]
    own_key = f"/usage/keys/{key_list(tenant_id=tenant_id)[0].api_key_id}/"
    budget_services.budget_set(
        tenant_id=tenant_id, hard=budgets.MICROS, soft=budgets.MICROS // 2, actor=_actor()
    )
    transact(budgets.record_spend(tenant_id, api_key_id="", micros=budgets.MICROS, now=utcnow()))
    suspended, _, suspended_user = tenant_user_of("Suspended For A Reason Co")
    tenant_services.tenant_set_status(
        tenant_id=suspended.tenant_id,
        status=TenantStatus.SUSPENDED,
        actor=_actor(),
        reason="The invoice of November is unpaid.",
    )
    tenant_pages = ["/home/", "/dispatches/", "/usage/", own_key, "/billing/"]
    return [
        (None, None, ["/accounts/login/", console_data[4][2]]),
        (staff_login.username, STAFF_PASSWORD, staff_pages(*console_data)),
        (user.username, TENANT_PASSWORD, tenant_pages),
        (suspended_user.username, TENANT_PASSWORD, ["/home/"]),
    ]


def signed_in_context(browser: Browser, base_url: str, scheme: Scheme, who, password) -> Page:
    context = browser.new_context(base_url=base_url, color_scheme=scheme, bypass_csp=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    if who and password:
        log_in(page, who, password)
        page.wait_for_load_state("networkidle")
    return page


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_at_390_px_no_page_scrolls_sideways(browser: Browser, live_server, visits, scheme: Scheme):
    for who, password, pages in visits:
        page = signed_in_context(browser, live_server.url, scheme, who, password)
        page.set_viewport_size({"width": 390, "height": 844})
        for url in pages:
            page.goto(url)
            page.wait_for_load_state("networkidle")
            assert no_sideways_scroll(page) <= 0, f"{scheme} {url}"
        page.context.close()


def test_at_390_px_the_menu_collapses_and_opens(staff_page: Page):
    page = staff_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/tenants/")
    nav = page.locator("#site-nav")
    expect(nav).to_be_hidden()  # collapsed behind Menu
    page.click("button.menu-toggle")
    expect(nav).to_be_visible()
    expect(page.locator("#site-nav button:has-text('Log out')")).to_be_in_viewport()


def test_badges_and_headers_never_break_inside_a_word(staff_page: Page, console_data):
    page = staff_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/dispatches/?tenant={console_data[0].tenant_id}")
    broken = page.evaluate(
        """() => [...document.querySelectorAll('.badge, th')].filter(el => {
             if (!el.offsetParent || el.querySelector('.visually-hidden')) return false;
             const words = el.textContent.trim().split(/\\s+/).length;
             const range = document.createRange();
             range.selectNodeContents(el);
             const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
             return lines.size > words;
           }).map(el => el.textContent.trim())"""
    )
    assert broken == []


def background(page: Page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_dark_mode_follows_the_system_and_the_toggle_is_remembered(staff_page: Page):
    page = staff_page
    page.emulate_media(color_scheme="light")
    page.goto("/tenants/")
    light = background(page)
    page.emulate_media(color_scheme="dark")
    dark = background(page)
    assert light != dark
    toggle = page.locator("[data-theme-toggle]")
    expect(toggle).to_have_text("Theme: auto")
    toggle.click()  # auto -> light, in a dark system
    expect(toggle).to_have_text("Theme: light")
    assert background(page) == light
    page.reload()
    assert background(page) == light  # remembered
    expect(page.locator("[data-theme-toggle]")).to_have_text("Theme: light")


# --- accessibility ---------------------------------------------------------------------------------


def test_a_form_error_is_announced_with_its_field(staff_page: Page):
    page = staff_page
    page.goto("/tenants/new/")
    page.fill("#id_email", "not-an-email")
    page.click("main button:has-text('Provision')")
    error = page.locator("#id_email_error")
    expect(error).to_contain_text("valid email")
    described = (page.get_attribute("#id_email", "aria-describedby") or "").split()
    assert described and all(page.locator(f"#{i}").count() == 1 for i in described)
    expect(page.locator("#id_name")).to_be_focused()  # the first field to fix
    assert page.get_attribute("#id_name", "aria-invalid") == "true"


def test_navigation_marks_the_current_page_and_the_skip_link_works(staff_page: Page):
    page = staff_page
    page.goto("/audit/")
    expect(page.locator("#site-nav a[aria-current=page]")).to_have_text("Audit log")
    page.keyboard.press("Tab")
    skip = page.locator("a.skip-link")
    expect(skip).to_be_focused()
    skip.press("Enter")
    expect(page.locator("#main")).to_be_focused()


def axe_violations(page: Page) -> list[str]:
    # Same-origin, so the Content-Security-Policy (script-src 'self') lets it run.
    page.route("**/__axe.js", lambda route: route.fulfill(path=AXE))
    page.add_script_tag(url="/__axe.js")
    result = page.evaluate(
        """async () => {
             const r = await axe.run(document, {runOnly: {type: 'tag',
               values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
             return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
               .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
           }"""
    )
    return list(result)


def test_every_page_passes_axe_in_both_themes_with_no_console_error(
    browser: Browser, live_server, visits
):
    problems: list[str] = []
    errors: list[str] = []
    schemes: tuple[Scheme, ...] = ("light", "dark")
    for scheme in schemes:
        for who, password, pages in visits:
            page = signed_in_context(browser, live_server.url, scheme, who, password)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            for url in pages:
                response = page.goto(url)
                page.wait_for_load_state("networkidle")
                assert response is not None and response.status < 400, url
                problems += [f"{scheme} {url} {v}" for v in axe_violations(page)]
                problems += [f"{scheme} {url} console: {e}" for e in errors]
                errors.clear()
            page.context.close()
    assert problems == []
