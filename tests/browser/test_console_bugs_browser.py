"""Issue 14, "Bugs": what a daily user of the console tripped on, each shown in Chromium."""

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from dispatches import lifecycle as services
from dispatches.domain import Dispatch
from dispatches.views import FILTER_READ_SIZE, FILTER_READS
from outpost_admin.audit import Actor
from outpost_admin.dynamo import utcnow
from tenants import services as tenant_services
from tenants.domain import Scope, Tier
from tests.dispatches.test_filtered_history import seed
from tests.fleet.conftest import finish

from .conftest import STAFF_PASSWORD, log_in

ACTOR = Actor(name="browser-test")


@pytest.fixture
def tenant_and_key(make_tenant, transactional_db):
    return make_tenant(name="Bugs Browser Co", tier=Tier.ENTERPRISE)


def make_dispatches(tenant, issued, count: int, **fields) -> list[Dispatch]:
    """`count` pending dispatches of the tenant, created as the API creates them."""
    made = []
    for n in range(count):
        data = {"agent": "claude", "task": f"Browser bug task {n:03d}", **fields}
        made.append(
            services.dispatch_create(
                tenant_id=tenant.tenant_id,
                api_key_id=issued.key.api_key_id,
                limits=tenant.limits,
                data=services.DispatchInput(
                    model_id="claude-opus-4-5-20251101", timeout_seconds=600, **data
                ),
                body_hash=f"h{n}",
                render=lambda d: {},
                actor=ACTOR,
            )
        )
    return made


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
    page.get_by_label("Dismiss this message").click()  # ... until dismissed
    expect(page.locator("#messages")).not_to_contain_text("is now on the enterprise tier")


@pytest.mark.parametrize(
    ("start", "confirm", "said"),
    [
        ("a:has-text('Suspend')", "button:has-text('Suspend tenant')", "suspended"),
        ("a:has-text('Revoke')", "button:has-text('Revoke key')", "revoked"),
    ],
)
def test_the_message_of_a_suspension_or_a_revocation_stays_too(
    signed_in_page: Page, tenant_and_key, start, confirm, said
):
    page = signed_in_page
    tenant, _ = tenant_and_key
    page.goto(f"/tenants/{tenant.tenant_id}/")
    page.locator(start).first.click()
    if page.locator("#id_reason").count():
        page.fill("#id_reason", "Checking that messages stay")
    page.click(confirm)
    page.wait_for_url(f"**/tenants/{tenant.tenant_id}/")
    expect(page.locator("#tenant-usage #usage-charts")).to_be_visible()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#messages")).to_contain_text(said)


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


# --- 3. rows after "Load more" keep every column ---------------------------------------------


def test_rows_after_load_more_on_the_staff_history_have_the_checkbox_and_every_cell(
    signed_in_page: Page, tenant_and_key
):
    page = signed_in_page
    tenant, issued = tenant_and_key
    make_dispatches(tenant, issued, 27)
    page.goto(f"/dispatches/?tenant={tenant.tenant_id}")
    rows = page.locator("#dispatch-rows tr[id^=dispatch-]")
    expect(rows).to_have_count(25)
    headers = page.locator("table.dispatches thead th").count()
    page.click("#load-more a")
    expect(rows).to_have_count(27)
    cells = rows.evaluate_all("rows => rows.map(r => r.cells.length)")
    assert cells == [headers] * 27
    expect(page.locator("#dispatch-rows input[type=checkbox][name=ids]")).to_have_count(27)


# --- 5. only a key being replaced is "rotating" ----------------------------------------------


def test_a_new_key_named_like_a_rotated_one_is_shown_live_not_rotating(
    signed_in_page: Page, tenant_and_key
):
    page = signed_in_page
    tenant, _ = tenant_and_key
    tid = tenant.tenant_id

    def ci_bot():
        return tenant_services.key_create(
            tenant_id=tid,
            name="ci-bot",
            scopes=(Scope.DISPATCH,),
            expires_at=utcnow() + timedelta(days=205),
            actor=ACTOR,
        )

    old = ci_bot()
    _, successor = tenant_services.key_rotate(
        tenant_id=tid, api_key_id=old.key.api_key_id, grace=timedelta(hours=24), actor=ACTOR
    )
    newest = ci_bot()
    page.goto(f"/tenants/{tid}/")
    badge = "td:nth-child(4) .badge"
    expect(page.locator(f"#key-{old.key.api_key_id} {badge}")).to_have_text("rotating")
    for live in (successor.key.api_key_id, newest.key.api_key_id):
        expect(page.locator(f"#key-{live} {badge}")).to_have_text("active")
        expect(page.locator(f"#key-{live}")).to_contain_text("active — expires in 205 days")


# --- 6. the dispatch page shows tag values --------------------------------------------------


def test_the_dispatch_page_shows_each_tag_with_its_value(signed_in_page: Page, tenant_and_key):
    page = signed_in_page
    tenant, issued = tenant_and_key
    (dispatch,) = make_dispatches(tenant, issued, 1, tags={"ticket": "OPS-103", "team": "core"})
    page.goto(f"/dispatches/{dispatch.dispatch_id}/")
    tags = page.locator("#dispatch-tags li")
    expect(tags).to_have_text(["team: core", "ticket: OPS-103"])


# --- 7. the usage Range box says what the charts show ---------------------------------------


def test_the_usage_range_box_shows_the_range_of_the_charts_and_show_keeps_it(
    signed_in_page: Page, tenant_and_key
):
    page = signed_in_page
    tenant, _ = tenant_and_key
    today = utcnow().date()
    page.goto(f"/usage/?tenant={tenant.tenant_id}")
    summary = page.locator("#usage-summary")
    thirty = f"from {today - timedelta(days=29):%Y-%m-%d} to {today:%Y-%m-%d}"
    expect(summary).to_contain_text(thirty)
    expect(page.locator("#id_range")).to_have_value("30")
    page.click("form.filters button:has-text('Show')")
    page.wait_for_url("**range=30**")
    expect(summary).to_contain_text(thirty)
    expect(page.locator("#id_range")).to_have_value("30")


def test_from_and_to_apply_only_to_a_custom_range_and_say_so(signed_in_page: Page, tenant_and_key):
    page = signed_in_page
    tenant, _ = tenant_and_key
    page.goto(f"/usage/?tenant={tenant.tenant_id}")
    since, until = page.locator("#id_since"), page.locator("#id_until")
    expect(since).to_be_disabled()  # with a preset range they do not apply
    page.select_option("#id_range", "custom")
    expect(since).to_be_enabled()
    since.fill("2026-01-01")
    until.fill("2026-01-10")
    page.click("form.filters button:has-text('Show')")
    expect(page.locator("#usage-summary")).to_contain_text("from 2026-01-01 to 2026-01-10")
    # Without the page's script (a link, a bookmark): a preset with dates is an error, not ignored.
    page.goto(f"/usage/?tenant={tenant.tenant_id}&range=7&since=2026-01-01&until=2026-01-10")
    expect(page.locator(".field.invalid")).to_contain_text("Custom")


# --- 8. a dispatch cancelled while pending never ran ----------------------------------------


def test_a_dispatch_cancelled_while_pending_is_listed_as_never_run(
    signed_in_page: Page, tenant_and_key
):
    page = signed_in_page
    tenant, issued = tenant_and_key
    (dispatch,) = make_dispatches(tenant, issued, 1)
    services.dispatch_cancel(dispatch=dispatch, actor=ACTOR)
    page.goto(f"/dispatches/?tenant={tenant.tenant_id}")
    row = page.locator(f"#dispatch-{dispatch.dispatch_id}")
    expect(row).to_have_attribute("data-status", "cancelled")
    expect(row.locator("td").last).to_have_text("never ran")


# --- 9. every table cell is a cell, borders unbroken -----------------------------------------

CELLS_OFF_THEIR_ROW = """table => [...table.querySelectorAll('tbody tr')].flatMap(row => {
  const r = row.getBoundingClientRect();
  return [...row.cells].filter(cell => {
    const c = cell.getBoundingClientRect();
    return getComputedStyle(cell).display !== 'table-cell'
      || Math.abs(c.top - r.top) > 1 || Math.abs(c.bottom - r.bottom) > 1;
  }).map(cell => row.id + ' cell ' + cell.cellIndex);
})"""


@pytest.mark.parametrize("width", [1280, 390])
def test_the_key_table_cells_fill_their_rows_so_borders_line_up(
    signed_in_page: Page, tenant_and_key, width
):
    page = signed_in_page
    tenant, _ = tenant_and_key
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"/tenants/{tenant.tenant_id}/")
    assert page.locator("#keys").evaluate(CELLS_OFF_THEIR_ROW) == []
    assert page.locator("#members").evaluate(CELLS_OFF_THEIR_ROW) == []


# --- 10. the audit text search reads the details, which never break inside a word -------------

# More lines than words (a line may end at a space or after a hyphen): a word was broken.
BROKEN_WORDS = """selector => [...document.querySelectorAll(selector)].filter(el => {
  const words = el.textContent.trim().split(/[\\s-]+/).length;
  const range = document.createRange();
  range.selectNodeContents(el);
  const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
  return lines.size > words;
}).map(el => el.textContent.trim())"""


def test_the_audit_text_search_finds_a_name_in_the_details(signed_in_page: Page, tenant_and_key):
    page = signed_in_page
    tenant, _ = tenant_and_key
    name = f"ci-bot-{tenant.tenant_id[:8]}"
    tenant_services.key_create(
        tenant_id=tenant.tenant_id,
        name=name,
        scopes=(Scope.DISPATCH,),
        expires_at=None,
        actor=ACTOR,
    )
    page.goto("/audit/")
    page.fill("#id_q", name)
    page.click("form.filters button:has-text('Filter')")
    rows = page.locator("table.audit tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("key.create")
    expect(rows.first).to_contain_text(name)


def test_audit_details_never_break_inside_a_word(signed_in_page: Page, tenant_and_key):
    page = signed_in_page
    tenant, issued = tenant_and_key
    (dispatch,) = make_dispatches(tenant, issued, 1)
    services.dispatch_cancel(dispatch=dispatch, actor=ACTOR)  # details: previous status PENDING
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/audit/?tenant={tenant.tenant_id}")
    expect(page.locator("dl.details dd", has_text="PENDING")).to_have_count(1)
    assert page.evaluate(BROKEN_WORDS, "dl.details dd") == []


# --- 13. one status vocabulary: the API's ----------------------------------------------------


def test_history_usage_legend_csv_and_fleet_page_call_a_success_success(
    signed_in_page: Page, tenant_and_key, tmp_path
):
    page = signed_in_page
    tenant, issued = tenant_and_key
    (dispatch,) = make_dispatches(tenant, issued, 1)
    finish(dispatch.dispatch_id, "COMPLETED")
    page.goto(f"/dispatches/?tenant={tenant.tenant_id}")
    expect(page.locator(f"#dispatch-{dispatch.dispatch_id} .badge")).to_have_text("success")

    page.goto(f"/usage/?tenant={tenant.tenant_id}&range=7")
    legend = page.locator("#chart-by-status svg text").all_text_contents()
    headers = page.locator("#numbers-by-status thead th").all_text_contents()
    assert "success" in legend and "success" in headers
    assert "completed" not in legend + headers
    with page.expect_download() as download:
        page.click("#usage-export")
    path = tmp_path / "usage.csv"
    download.value.save_as(path)
    header = path.read_text().splitlines()[0].split(",")
    assert "status_success" in header and "status_completed" not in header

    page.goto("/fleet/")
    expect(page.locator("#fleet-agents thead")).to_contain_text("Success, last hour")
    expect(page.locator("#fleet-agents thead")).not_to_contain_text("Completed")


# --- 14. Back after a history-cache miss renders the whole page -------------------------------


@pytest.mark.parametrize(
    "path, field, first, second",
    [
        ("/dispatches/", "#id_repo", "acme/one", "acme/two"),
        ("/audit/", "#id_action", "key.", "tenant."),
        ("/tenants/", "#id_search", "Bugs", "Nobody"),
    ],
)
def test_going_back_to_a_pushed_page_with_no_history_cache_renders_the_whole_page(
    signed_in_page: Page, path, field, first, second
):
    page = signed_in_page
    page.goto(path)
    page.evaluate("window.sameDocument = true")
    for value in (first, second):  # two filtered views, each pushed by htmx
        page.fill(field, value)
        page.locator("form.filters button[type=submit]").click()
        page.wait_for_url(f"**{path}?*{value.replace('/', '%2F')}*")
    page.wait_for_load_state("networkidle")
    page.evaluate("sessionStorage.removeItem('htmx-history-cache')")
    with page.expect_response(lambda r: "hx-history-restore-request" in r.request.headers):
        page.go_back()  # htmx finds nothing cached and asks the server for the page
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.sameDocument") is True  # htmx restored it, no reload
    expect(page.locator("header.top")).to_have_count(1)
    expect(page.locator("#site-nav")).to_have_count(1)
    expect(page.locator("main#main h1")).to_have_count(1)
    expect(page.locator("form.filters")).to_have_count(1)
    expect(page.locator(field)).to_have_value(first)


# --- 12. a stranger cannot lock the admin out --------------------------------------------------


def test_a_strangers_failures_lock_only_that_name_and_the_form_counts_down(
    page: Page, staff_login, settings
):
    log_in(page, "nobody-at-all", "wrong-password")
    expect(page.locator("#tries-left")).to_have_text(
        f"{settings.AXES_FAILURE_LIMIT - 1} more failed tries before signing in from here is paused."
    )
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(page, "nobody-at-all", "wrong-password")
    expect(page.locator("h1")).to_have_text("Signing in is paused")
    log_in(page, staff_login.username, STAFF_PASSWORD)  # from the same address
    page.wait_for_url("**/tenants/")


# --- 4. filters apply across pages, within a stated bound -------------------------------------


def test_a_filter_finds_matches_beyond_the_first_page_and_says_what_it_searched(
    signed_in_page: Page, tenant_and_key
):
    page = signed_in_page
    tenant, _ = tenant_and_key
    bound = FILTER_READS * FILTER_READ_SIZE
    ids = seed(tenant.tenant_id, ["grok"] * 6 + ["claude"] * bound)
    page.goto(f"/dispatches/?tenant={tenant.tenant_id}&agent=grok")
    expect(page.locator("#search-bound")).to_contain_text(f"searches up to {bound} dispatches")
    empty = page.locator("#dispatch-rows tr.empty")
    expect(empty).to_contain_text(f"No dispatches match among the up to {bound} dispatches")
    page.click("#load-more a")  # searches on
    rows = page.locator("#dispatch-rows tr[id^=dispatch-]")
    expect(rows).to_have_count(6)
    expect(rows.first).to_have_id(f"dispatch-{ids[5]}")
    expect(empty).to_have_count(0)  # no "No dispatches match" above the matches
