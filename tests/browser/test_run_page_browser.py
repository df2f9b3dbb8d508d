"""Issue 14, "Make the common work fast", point 5, in Chromium: the run page puts the log
first, each line with its time, searchable and downloadable; it names the key and the worker;
"Run again" opens the request to edit. axe and 390 px cover both pages in both themes."""

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from dispatches import lifecycle, storage
from dispatches.domain import DispatchStatus
from outpost_admin.dynamo import utcnow

from .conftest import TENANT_PASSWORD, create_dispatch, log_in
from .test_console_browser import axe_violations, no_sideways_scroll

T0 = int(datetime(2026, 12, 8, 4, 50, 1, tzinfo=UTC).timestamp() * 1000)
NEEDLES = (20, 150, 190)  # the lines that hold the word searched for


@pytest.fixture(autouse=True)
def agent_commands(settings):
    """Claude is available on this deployment (no worker runs here: the tests write output)."""
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": [sys.executable, "-c", "pass"]})


@pytest.fixture
def tenant_user(tenant_user_of):
    return tenant_user_of("Run Page Co")


def claimed(dispatch_id: str, worker_id: str = "worker-run-page"):
    dispatch = storage.dispatch_claim(
        storage.dispatch_get(dispatch_id), worker_id=worker_id, now=utcnow()
    )
    assert dispatch is not None
    return dispatch


def write_lines(dispatch, *, seq: int, lines: list[str], start_ms: int) -> None:
    text = "".join(f"{line}\n" for line in lines)
    times = [start_ms + 1000 * n for n in range(len(lines))]
    lifecycle.log_append(dispatch, seq=seq, text=text, line_times=times)


@pytest.fixture
def finished_run(live_server, tenant_user):
    """A failed run of 200 lines, three of which say "needle"."""
    tenant, raw_key, user = tenant_user
    dispatch = claimed(create_dispatch(live_server.url, raw_key, tags={"team": "core"}))
    lines = [f"line {n}" + (" needle" if n in NEEDLES else "") for n in range(200)]
    write_lines(dispatch, seq=0, lines=lines[:100], start_ms=T0)
    write_lines(dispatch, seq=1, lines=lines[100:], start_ms=T0 + 100_000)
    assert lifecycle.dispatch_finish(dispatch, status=DispatchStatus.FAILED, exit_code=1)
    return tenant, raw_key, user, dispatch.dispatch_id


def signed_in(page: Page, user) -> Page:
    log_in(page, user.username, TENANT_PASSWORD)
    page.wait_for_url("**/home/")
    return page


def current_mark_is_in_view(page: Page) -> bool:
    return page.evaluate(
        """() => {
             const mark = document.querySelector('#dispatch-log mark.current');
             const log = document.getElementById('dispatch-log').getBoundingClientRect();
             const r = mark.getBoundingClientRect();
             return r.top >= log.top && r.bottom <= log.bottom;
           }"""
    )


def test_each_line_shows_its_time_and_the_search_highlights_and_jumps(page: Page, finished_run):
    _, _, user, dispatch_id = finished_run
    signed_in(page, user).goto(f"/dispatches/{dispatch_id}/")
    log = page.locator("#dispatch-log")
    first = log.locator(".ln").first
    expect(first).to_have_attribute("data-time", "04:50:01")
    shown = first.evaluate("el => getComputedStyle(el, '::before').content")
    assert shown == '"04:50:01"'  # the time is on screen...
    assert "04:50:01" not in log.inner_text()  # ...and not in the text copied or searched
    assert log.locator(".ln").nth(150).get_attribute("data-time") == "04:52:31"

    search = page.locator("#log-search")
    expect(search).to_be_visible()
    search.fill("NEEDLE")  # case does not matter
    expect(log.locator("mark")).to_have_count(3)
    expect(page.locator("#log-search-count")).to_have_text("1 of 3")
    expect(log.locator("mark.current")).to_have_text("needle")
    assert current_mark_is_in_view(page)
    search.press("Enter")
    expect(page.locator("#log-search-count")).to_have_text("2 of 3")
    assert log.locator(".ln").nth(150).locator("mark.current").count() == 1
    assert current_mark_is_in_view(page)  # jumped: the log scrolled to it
    page.click("#log-search-bar button:has-text('Next')")
    expect(page.locator("#log-search-count")).to_have_text("3 of 3")
    search.press("Enter")  # past the last: back to the first
    expect(page.locator("#log-search-count")).to_have_text("1 of 3")
    page.click("#log-search-bar button:has-text('Previous')")
    expect(page.locator("#log-search-count")).to_have_text("3 of 3")
    search.fill("no such words")
    expect(page.locator("#log-search-count")).to_have_text("No matches")
    expect(log.locator("mark")).to_have_count(0)
    assert log.inner_text().count("line 150 needle\n") == 1  # the text is whole again


def test_new_output_arrives_with_its_times_and_is_searched_too(
    page: Page, live_server, tenant_user
):
    _, raw_key, user = tenant_user
    dispatch = claimed(create_dispatch(live_server.url, raw_key))
    lifecycle.log_append(dispatch, seq=0, text="booting needle\nhalf a ", line_times=[T0, T0])
    signed_in(page, user).goto(f"/dispatches/{dispatch.dispatch_id}/")
    page.fill("#log-search", "needle")
    expect(page.locator("#log-search-count")).to_have_text("1 of 1")
    lifecycle.log_append(dispatch, seq=1, text="line\nanother needle\n", line_times=[T0, T0 + 7000])
    log = page.locator("#dispatch-log")
    expect(page.locator("#log-search-count")).to_have_text("1 of 2", timeout=10_000)
    lines = log.locator(".ln")
    expect(lines).to_have_count(3)  # the half line was finished, not started again
    expect(lines.nth(1)).to_have_text("half a line\n")
    expect(lines.nth(1)).to_have_attribute("data-time", "04:50:01")
    expect(lines.nth(2)).to_have_attribute("data-time", "04:50:08")


def test_the_log_downloads_as_plain_text_and_only_for_its_tenant(
    page: Page, finished_run, tenant_user_of, tmp_path: Path
):
    _, _, user, dispatch_id = finished_run
    signed_in(page, user).goto(f"/dispatches/{dispatch_id}/")
    with page.expect_download() as download:
        page.click("#log-download")
    path = tmp_path / "run.log"
    download.value.save_as(path)
    text = path.read_text()
    assert text.startswith("line 0\nline 1\n") and text.count("\n") == 200
    assert download.value.suggested_filename == f"dispatch-{dispatch_id}.log"
    with page.expect_download() as timed:
        page.click("#log-download-timed")
    timed.value.save_as(path)
    assert path.read_text().startswith("2026-12-08T04:50:01.000Z line 0\n")
    _, _, stranger = tenant_user_of("Another Run Page Co")
    page.click("header button:has-text('Log out')")
    signed_in(page, stranger)
    assert page.request.get(f"/dispatches/{dispatch_id}/log.txt").status == 404


def test_the_page_names_the_key_and_the_worker(page: Page, finished_run):
    _, _, user, dispatch_id = finished_run
    key_name = storage.dispatch_get(dispatch_id).api_key_name
    assert key_name
    signed_in(page, user).goto(f"/dispatches/{dispatch_id}/")
    expect(page.locator("#run-key")).to_contain_text(key_name)
    expect(page.locator("#run-worker")).to_have_text("worker-run-page")
    # The log comes before the request: the first thing under the status.
    log_top = page.locator("#dispatch-log").bounding_box()
    request_top = page.locator("#request-title").bounding_box()
    assert log_top and request_top and log_top["y"] < request_top["y"]


def test_run_again_opens_the_request_to_edit_then_creates_it(page: Page, finished_run):
    _, _, user, dispatch_id = finished_run
    signed_in(page, user).goto(f"/dispatches/{dispatch_id}/")
    page.click("a:has-text('Run again')")
    page.wait_for_url(f"**/dispatches/{dispatch_id}/rerun/")
    expect(page.locator("#id_task")).to_have_value("Say hello from the browser test")
    expect(page.locator("#id_model_id")).to_have_value("claude-opus-4-5-20251101")
    expect(page.locator("#id_timeout_seconds")).to_have_value("600")
    expect(page.locator("#id_tags")).to_have_value("team=core")

    page.fill("#id_task", "short")
    page.fill("#id_timeout_seconds", "99999")
    page.click("main button:has-text('Run again')")
    expect(page.locator("#id_task_error")).to_contain_text("at least 10 characters")
    expect(page.locator("#id_timeout_seconds_error")).to_contain_text("86400")
    expect(page.locator("#id_task")).to_be_focused()  # the first field to fix
    expect(page.locator("#id_tags")).to_have_value("team=core")  # what was typed stays

    page.fill("#id_task", "Say hello again, louder this time")
    page.select_option("#id_model_id", "claude-haiku-4-5-20251001")
    page.fill("#id_timeout_seconds", "900")
    page.fill("#id_tags", "team=core\nticket=OPS-7")
    page.click("main button:has-text('Run again')")
    expect(page.locator("#rerun-of")).to_contain_text(dispatch_id)
    expect(page.locator("#messages")).to_contain_text(f"Dispatch {dispatch_id} runs again as")
    expect(page.locator("#dispatch-task")).to_have_text("Say hello again, louder this time")
    expect(page.locator("table.facts")).to_contain_text("claude-haiku-4-5-20251001")
    expect(page.locator("table.facts")).to_contain_text("900 s")
    expect(page.locator("#dispatch-tags")).to_contain_text("ticket: OPS-7")
    expect(page.locator("#dispatch-status")).to_have_text("pending")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_run_page_and_run_again_pass_axe_and_fit_390_px_in_both_themes(
    browser: Browser, live_server, finished_run, scheme
):
    _, _, user, dispatch_id = finished_run
    problems: list[str] = []

    def console_error(message) -> None:
        # The form with errors answers 400 on purpose (Chromium logs that): anything else counts.
        if message.type == "error" and "status of 400" not in message.text:
            problems.append(message.text)

    def page_error(error) -> None:
        problems.append(str(error))

    for width in (1280, 390):
        context = browser.new_context(
            base_url=live_server.url,
            color_scheme=scheme,
            viewport={"width": width, "height": 844},
            bypass_csp=True,
        )
        page = context.new_page()
        page.on("console", console_error)
        page.on("pageerror", page_error)
        signed_in(page, user)
        for url in (f"/dispatches/{dispatch_id}/", f"/dispatches/{dispatch_id}/rerun/"):
            page.goto(url)
            page.wait_for_load_state("networkidle")
            if url.endswith("/rerun/"):  # with its errors showing
                page.fill("#id_task", "short")
                page.click("main button:has-text('Run again')")
                expect(page.locator("#id_task_error")).to_be_visible()
            else:  # with a search showing its matches
                page.fill("#log-search", "needle")
                expect(page.locator("#log-search-count")).to_have_text("1 of 3")
            problems += [f"{width} {url} {v}" for v in axe_violations(page)]
            if width == 390 and no_sideways_scroll(page) > 0:
                problems.append(f"{url} scrolls sideways at 390 px")
        context.close()
    assert problems == []
