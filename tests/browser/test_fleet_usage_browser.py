"""Staff watch the fleet live and read usage charts, as a person would in Chromium."""

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import uuid

import pytest
from playwright.sync_api import Page, expect

from dispatches import storage as dispatch_storage
from dispatches.domain import DispatchStatus
from fleet.worker import Worker
from outpost_admin.dynamo import utcnow
from tenants.domain import Tier
from tests.fleet.conftest import finish

from .conftest import create_dispatch

SLEEPER = "import os, time; print('started', os.getpid(), flush=True); time.sleep({seconds})"
# Every state a worker row shows, recorded in the page: a reload would lose it.
WATCH_WORKER = """id => {
  window.seen = [];
  const record = () => {
    const row = document.querySelector(`tr[data-worker="${id}"]`);
    const state = row ? (row.querySelector('a[href^="/dispatches/"]') ? 'running' : 'idle') : 'absent';
    if (window.seen[window.seen.length - 1] !== state) window.seen.push(state);
  };
  record();
  new MutationObserver(record).observe(document.getElementById('main'), {childList: true, subtree: true});
}"""


@pytest.fixture
def fast_refresh(monkeypatch):
    monkeypatch.setattr("fleet.views.REFRESH_SECONDS", 1)


def agent(settings, seconds: float) -> None:
    code = SLEEPER.format(seconds=seconds)
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": [sys.executable, "-c", code]})


def test_the_fleet_page_shows_a_worker_appear_run_a_dispatch_and_go(
    signed_in_page: Page, live_server, make_tenant, settings, fast_refresh
):
    page = signed_in_page
    agent(settings, 5)
    tenant, issued = make_tenant()
    worker_id = f"browser-{uuid.uuid4().hex[:8]}"
    page.click("header nav >> text=Fleet")
    page.wait_for_url("**/fleet/")
    page.evaluate(WATCH_WORKER, worker_id)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url}"))

    worker = Worker(worker_id=worker_id, tenant_id=tenant.tenant_id, poll_seconds=0.2)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        row = page.locator(f'tr[data-worker="{worker_id}"]')
        expect(row).to_have_attribute("data-state", "live", timeout=15_000)
        expect(row).to_contain_text("0 / 1")
        dispatch_id = create_dispatch(live_server.url, issued.raw, timeoutSeconds=60)
        link = row.locator(f'a[href="/dispatches/{dispatch_id}/"]')
        expect(link).to_be_visible(timeout=15_000)
        expect(row).to_contain_text("1 / 1")
        expect(link).to_have_count(0, timeout=30_000)
    finally:
        worker.stop()
        thread.join(timeout=30)
    expect(row).to_have_count(0, timeout=15_000)

    assert page.evaluate("window.seen") == ["absent", "idle", "running", "idle", "absent"]
    assert dispatch_storage.dispatch_get(dispatch_id).status == DispatchStatus.COMPLETED
    refreshes = [r for r in requests if "/fleet/" in r]
    assert refreshes and all(r == f"GET {live_server.url}/fleet/" for r in refreshes)
    assert len(requests) == len(refreshes)  # one request per refresh, nothing else


def test_a_killed_worker_is_flagged_dead_and_recovered_from_the_page(
    signed_in_page: Page, live_server, dynamodb_local, make_tenant, settings, fast_refresh
):
    page = signed_in_page
    settings.OUTPOST_WORKER_DEAD_AFTER_SECONDS = 3
    agent(settings, 120)
    tenant, issued = make_tenant(tier=Tier.FREE)
    worker_id = f"killed-{uuid.uuid4().hex[:8]}"
    dispatch_id = create_dispatch(live_server.url, issued.raw, timeoutSeconds=60)
    env = {
        **os.environ,
        "DYNAMODB_ENDPOINT_URL": dynamodb_local,
        "DJANGO_SECRET_KEY": "test-only",
        "OUTPOST_WORKER_HEARTBEAT_SECONDS": "1",
        "OUTPOST_AGENT_COMMANDS": settings.OUTPOST_AGENT_COMMANDS,
    }
    command = [sys.executable, "manage.py", "run_worker", "--worker-id", worker_id]
    command += ["--tenant", tenant.tenant_id]
    process = subprocess.Popen(
        command, env=env, cwd=settings.BASE_DIR, start_new_session=True, stdout=subprocess.DEVNULL
    )
    try:
        page.goto("/fleet/", timeout=30_000)  # the worker is booting beside it
        row = page.locator(f'tr[data-worker="{worker_id}"]')
        expect(row.locator(f'a[href="/dispatches/{dispatch_id}/"]')).to_be_visible(timeout=60_000)
        expect(row).to_have_attribute("data-state", "live")
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the worker and the agent it started
        process.wait(timeout=10)

    expect(row).to_have_attribute("data-state", "dead", timeout=15_000)
    row.locator("text=Recover now").click()
    page.wait_for_url(f"**/fleet/workers/{worker_id}/recover/")
    expect(page.locator("h1")).to_contain_text(worker_id)
    page.click("button:has-text('Recover now')")
    page.wait_for_url("**/fleet/")
    expect(page.locator(".flash")).to_contain_text(f"Recovered worker {worker_id}: 1 dispatch")
    expect(page.locator(f'tr[data-worker="{worker_id}"]')).to_have_count(0)

    recovered = dispatch_storage.dispatch_get(dispatch_id)
    assert recovered.status == DispatchStatus.FAILED and worker_id in recovered.status_reason
    page.goto(f"/dispatches/{dispatch_id}/")
    expect(page.locator("#dispatch-status")).to_have_text("failed")
    page.goto("/audit/")
    expect(page.locator("table.audit")).to_contain_text("worker.recover")


def test_the_usage_chart_and_its_csv_match_the_dispatches_created(
    signed_in_page: Page, live_server, make_tenant, tmp_path, settings
):
    page = signed_in_page
    echo = [sys.executable, "-c", "print('ok')"]
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": echo, "codex": echo})
    tenant, issued = make_tenant(name=f"Usage Co {uuid.uuid4().hex[:6]}")
    ids = [
        create_dispatch(live_server.url, issued.raw, agent=a, timeoutSeconds=60)
        for a in ("claude", "claude", "codex")
    ]
    finish(ids[0], "COMPLETED")
    finish(ids[2], "FAILED")
    today = utcnow().date().isoformat()

    page.goto(f"/tenants/{tenant.tenant_id}/")
    expect(page.locator("#tenant-usage #chart-by-status")).to_be_visible()
    page.click("#tenant-usage >> text=Full usage page")
    page.wait_for_url("**/usage/?tenant=*")
    page.goto(f"/usage/?tenant={tenant.tenant_id}&range=7")

    def bar(chart: str, series: str):
        return page.locator(f'#chart-{chart} rect[data-day="{today}"][data-series="{series}"]')

    expected_status = {"success": "1", "failed": "1", "active": "1"}
    for series, value in expected_status.items():
        expect(bar("by-status", series)).to_have_attribute("data-value", value)
        expect(bar("by-status", series).locator("title")).to_have_text(
            f"{today} · {series}: {value}"
        )
    expect(bar("by-status", "cancelled")).to_have_count(0)
    expect(bar("by-agent", "claude")).to_have_attribute("data-value", "2")
    expect(bar("by-agent", "codex")).to_have_attribute("data-value", "1")
    table = page.locator("#numbers-by-status tr", has_text=today)
    expect(table.locator("td")).to_have_text(["1", "1", "0", "0", "1", "3"])

    with page.expect_download() as download:
        page.click("#usage-export")
    path = tmp_path / "usage.csv"
    download.value.save_as(path)
    with path.open() as handle:
        rows = {r["day"]: r for r in csv.DictReader(handle)}
    row = rows[today]
    assert row["dispatches"] == "3"
    assert (row["status_success"], row["status_failed"], row["status_active"]) == ("1", "1", "1")
    assert (row["agent_claude"], row["agent_codex"]) == ("2", "1")
    assert len(rows) == 7
