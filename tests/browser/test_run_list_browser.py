"""Issue 14, "Make the common work fast", point 2, in Chromium: the dense run list. 20+ rows
a screen at 1280x800, the row opens the run, filters by tag and key, and at 390 px every
row is a card that shows its status first; axe in both themes."""

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.dispatches.test_run_list import seed

from .conftest import TENANT_PASSWORD, log_in
from .test_console_browser import axe_violations, no_sideways_scroll

ROWS_IN_VIEW = """() => {
  const rows = [...document.querySelectorAll('#dispatch-rows tr[id^=dispatch-]')];
  return rows.filter(r => { const b = r.getBoundingClientRect();
    return b.top >= 0 && b.bottom <= window.innerHeight; }).length;
}"""


@pytest.fixture
def listed(tenant_user_of):
    """A tenant user, and 30 finished runs of the tenant: two tagged team=core by ci-bot."""
    tenant, _, user = tenant_user_of("Run List Co")
    rows = [{"tags": {"team": "core"}, "api_key_name": "ci-bot"}] * 2 + [{"ran": 9}] * 28
    ids = seed(tenant.tenant_id, [dict(row) for row in rows])
    return user, ids


def signed_in(page: Page, user) -> Page:
    log_in(page, user.username, TENANT_PASSWORD)
    page.wait_for_url("**/home/")
    return page


def test_twenty_rows_a_screen_at_1280_by_800_and_the_row_opens_the_run(page: Page, listed):
    user, ids = listed
    page.set_viewport_size({"width": 1280, "height": 800})
    signed_in(page, user).goto("/dispatches/")
    page.locator("table.dispatches thead").evaluate("el => el.scrollIntoView()")
    assert page.evaluate(ROWS_IN_VIEW) >= 20
    page.locator(f"#dispatch-{ids[5]} td[data-label=Duration]").click()  # not a link
    page.wait_for_url(f"**/dispatches/{ids[5]}/")
    expect(page.locator("h1")).to_contain_text(ids[5])


def test_filter_by_tag_and_key_from_the_form(page: Page, listed):
    user, ids = listed
    signed_in(page, user).goto("/dispatches/")
    page.fill("#id_tag", "team=core")
    page.fill("#id_key", "ci-bot")
    page.click("form.filters button:has-text('Filter')")
    rows = page.locator("#dispatch-rows tr[id^=dispatch-]")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_id(f"dispatch-{ids[1]}")
    expect(rows.first.locator("td[data-label=Key]")).to_have_text("ci-bot")
    expect(page.locator("#search-bound")).to_contain_text("searches up to 400 dispatches")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_at_390_px_each_row_is_a_card_status_first_and_axe_passes(
    browser: Browser, live_server, listed, scheme
):
    user, ids = listed
    problems: list[str] = []
    for width in (1280, 390):
        context = browser.new_context(
            base_url=live_server.url,
            color_scheme=scheme,
            viewport={"width": width, "height": 800},
            bypass_csp=True,
        )
        page = signed_in(context.new_page(), user)
        for url in ("/dispatches/", "/dispatches/?tag=team&sort=duration"):
            page.goto(url)
            page.wait_for_load_state("networkidle")
            problems += [f"{width} {url} {v}" for v in axe_violations(page)]
            if width == 390 and no_sideways_scroll(page) > 0:
                problems.append(f"{url} scrolls sideways at 390 px")
        if width == 390:
            page.goto("/dispatches/")
            row = page.locator(f"#dispatch-{ids[-1]}")
            tops = row.locator("td").evaluate_all(
                "cells => cells.filter(c => c.offsetParent)"
                ".map(c => [c.dataset.label || '', c.getBoundingClientRect().top])"
            )
            first = min(tops, key=lambda cell: cell[1])
            assert first[0] == "Status", tops  # the card starts with its status
            assert len({round(top) for _, top in tops}) == len(tops)  # stacked, one a line
            box = row.bounding_box()
            assert box and box["width"] <= 390
        context.close()
    assert problems == []
