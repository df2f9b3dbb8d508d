"""/fleet/: workers, control-plane tasks and agents from pool items and roll-ups; recovering
a dead worker; /health/fleet reading the same selector."""

import json
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest
from django.test import Client

from dispatches import lifecycle as dispatch_services
from dispatches import storage as dispatch_storage
from dispatches.agents import is_available
from dispatches.domain import AGENTS, ORIGIN, Dispatch, DispatchStatus
from fleet import health, selectors, services, storage
from fleet.domain import Slot, SlotStatus
from outpost_admin.audit.domain import Actor
from outpost_admin.dynamo import call, counting_calls, to_item, utcnow
from outpost_admin.dynamo.tables import DISPATCHES, POOL
from tenants import selectors as tenant_selectors
from tenants.domain import Tier
from tests.conftest import roll_up

from .conftest import create, finish
from .test_usage_pages import seed_dispatches

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered():
    made: list[Slot] = []

    def register(worker: str, count: int = 1, *, dead: bool = False) -> list[Slot]:
        agents = tuple(a for a in AGENTS if is_available(a))  # what a worker registers
        slots = services.slots_register(worker_id=worker, count=count, agents=agents)
        if dead:
            old = utcnow() - timedelta(hours=1)
            slots = [replace(s, heartbeat=old) for s in slots]
            storage.slots_save(slots)
        made.extend(slots)
        return slots

    yield register
    for slot in made:
        storage.slot_delete(slot)


def new_worker_id() -> str:
    return f"fw-{uuid.uuid4().hex[:10]}"


def agent_row(name):
    roll_up()
    return next(a for a in selectors.fleet_board(now=utcnow()).agents if a.agent == name)


def row_of(html: str, row_id: str) -> str:
    match = re.search(rf'<tr id="{re.escape(row_id)}".*?</tr>', html, re.S)
    assert match, row_id
    return match.group(0)


# --- workers --------------------------------------------------------------------------------


def test_a_live_worker_is_listed_with_its_slots_and_agents(staff_client, registered):
    worker = new_worker_id()
    registered(worker, count=2)
    html = staff_client.get("/fleet/").content.decode()
    row = row_of(html, f"worker-{worker}")
    assert 'data-state="live"' in row and "0 / 2" in row
    assert "claude, codex, gemini" in row and ">local<" in row
    assert "Recover now" not in row


def test_a_silent_worker_is_flagged_dead_with_a_recover_action(staff_client, registered):
    worker = new_worker_id()
    registered(worker, dead=True)
    row = row_of(staff_client.get("/fleet/").content.decode(), f"worker-{worker}")
    assert 'data-state="dead"' in row
    assert f'href="/fleet/workers/{worker}/recover/"' in row


def test_a_running_dispatch_is_linked_from_its_worker(staff_client, registered, make_tenant):
    worker = new_worker_id()
    (slot,) = registered(worker)
    _, issued = make_tenant()
    dispatch_id = create(issued.raw)["dispatchId"]
    services.slot_take(slot, dispatch_id=dispatch_id)
    row = row_of(staff_client.get("/fleet/").content.decode(), f"worker-{worker}")
    assert f'href="/dispatches/{dispatch_id}/"' in row and "1 / 1" in row


def test_control_plane_tasks_are_shown_as_such(staff_client):
    arn = f"arn:aws:ecs:us-east-1:123456789012:task/outpost/{uuid.uuid4().hex}"
    item = {
        "agent_type": "codex",
        "task_arn": arn,
        "status": "idle",
        "created_at": "2026-11-27T10:00:00.000Z",
    }
    call("put_item", TableName=POOL.name, Item=to_item(item))
    try:
        html = staff_client.get("/fleet/").content.decode()
        tasks = re.search(r'<table id="fleet-tasks">.*?</table>', html, re.S)
        assert tasks and arn in tasks.group(0)
        assert f"worker-{arn}" not in html
        assert agent_row("codex").live_slots >= 1
    finally:
        call(
            "delete_item",
            TableName=POOL.name,
            Key=to_item({"agent_type": "codex", "task_arn": arn}),
        )


# --- agents ---------------------------------------------------------------------------------


def test_an_agent_without_a_command_is_unavailable_and_says_why(staff_client, registered):
    registered(new_worker_id())
    html = staff_client.get("/fleet/").content.decode()
    assert 'data-available="yes"' in row_of(html, "agent-claude")
    grok = row_of(html, "agent-grok")
    assert 'data-available="no"' in grok and "No command is configured" in grok


def test_an_agent_with_no_live_slot_is_unavailable(settings):
    settings.OUTPOST_WORKER_DEAD_AFTER_SECONDS = 0  # every worker of the session is dead now
    row = agent_row("claude")
    assert not row.available and row.reason == "No live slot can run it."


def test_a_dispatch_pending_for_days_is_counted_and_shown_as_the_oldest(make_tenant):
    created = utcnow() - timedelta(days=3)
    tenant, _ = make_tenant()
    dispatch = Dispatch(
        dispatch_id=f"OLD{uuid.uuid4().hex}",
        tenant_id=tenant.tenant_id,
        agent="aider",
        model_id=AGENTS["aider"].default_model,
        task="Fix the failing test in utils.py",
        status=DispatchStatus.PENDING,
        started_at=created,
        origin=ORIGIN,
    )
    item = dispatch_storage._to_item(dispatch)  # as our create writes it, three days ago
    call("put_item", TableName=DISPATCHES.name, Item=item)
    try:
        row = agent_row("aider")
        assert row.queue_depth >= 1
        assert row.oldest_pending == created.replace(minute=0, second=0, microsecond=0)
        assert row.oldest_age.startswith("3 d")
        with counting_calls() as log:
            selectors.fleet_board(now=utcnow())
        assert log.by_operation()["BatchGetItem"] == 2  # the queue items: the same keys always
    finally:
        dispatch_services.dispatch_finish(dispatch, status=DispatchStatus.CANCELLED)
        assert agent_row("aider").oldest_pending != created.replace(minute=0, second=0)
        # Out of the other tests' history of three days ago.
        call(
            "delete_item",
            TableName=DISPATCHES.name,
            Key=to_item({"dispatch_id": dispatch.dispatch_id}),
        )


def test_the_queue_counts_pending_dispatches_as_they_come_and_go(make_tenant):
    tenant, issued = make_tenant(tier=Tier.ENTERPRISE)
    before = agent_row("gemini").queue_depth
    ids = [create(issued.raw, "gemini")["dispatchId"] for _ in range(3)]
    assert agent_row("gemini").queue_depth == before + 3
    assert agent_row("gemini").oldest_pending is not None
    claimed = dispatch_storage.dispatch_claim(
        dispatch_storage.dispatch_get(ids[0]), worker_id="w-q", now=utcnow()
    )
    assert claimed is not None and agent_row("gemini").queue_depth == before + 2
    dispatch_services.dispatch_cancel(
        dispatch=dispatch_storage.dispatch_get(ids[1]), actor=Actor(name="t")
    )
    assert agent_row("gemini").queue_depth == before + 1
    assert dispatch_services.dispatch_requeue(claimed, reason="worker gone")
    assert agent_row("gemini").queue_depth == before + 2
    finish(ids[2], "COMPLETED")
    assert agent_row("gemini").queue_depth == before + 1
    assert tenant_selectors.tenant_get(tenant_id=tenant.tenant_id).concurrent_jobs == 1


def test_a_cancel_that_races_a_claim_leaves_the_queue_exact(make_tenant):
    _, issued = make_tenant()
    before = agent_row("codex").queue_depth
    dispatch_id = create(issued.raw, "codex")["dispatchId"]
    as_read = dispatch_storage.dispatch_get(dispatch_id)  # PENDING
    dispatch_storage.dispatch_claim(as_read, worker_id="w-race", now=utcnow())
    dispatch_services.dispatch_cancel(dispatch=as_read, actor=Actor(name="t"))
    assert dispatch_storage.dispatch_get(dispatch_id).status == DispatchStatus.CANCELLED
    assert agent_row("codex").queue_depth == before


def test_the_last_hour_counts_finished_dispatches_by_status(make_tenant):
    _, issued = make_tenant()
    before = agent_row("claude").last_hour
    for status in ("COMPLETED", "FAILED", "TIMEOUT"):
        finish(create(issued.raw)["dispatchId"], status)
    after = agent_row("claude").last_hour
    assert {s: after[s] - before[s] for s in after} == {
        "completed": 1,
        "failed": 1,
        "cancelled": 0,
        "timeout": 1,
    }


# --- one request per refresh, constant calls ----------------------------------------------------


def test_a_refresh_is_one_request_for_the_board_only(staff_client):
    page = staff_client.get("/fleet/").content.decode()
    assert 'hx-get="/fleet/"' in page and 'hx-trigger="every 5s"' in page
    response = staff_client.get("/fleet/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="fleet-board"') and "<html" not in html
    assert "HX-Request" in response["Vary"] and response["Cache-Control"] == "no-store"


def test_the_fleet_page_makes_the_same_calls_at_any_data_size(staff_client, make_tenant):
    tenant, issued = make_tenant(tier=Tier.ENTERPRISE)

    def calls():
        with counting_calls() as log:
            assert staff_client.get("/fleet/", HTTP_HX_REQUEST="true").status_code == 200
        return log.by_operation()

    small = calls()
    seed_dispatches(tenant.tenant_id, 1500)
    ids = [create(issued.raw, "claude")["dispatchId"] for _ in range(20)]
    for dispatch_id in ids[:10]:
        finish(dispatch_id, "COMPLETED")
    assert calls() == small
    # A Query per agent type (5) on the pool, one for the stream shards' leases; the queue
    # items (the same 8 keys whatever the oldest waiting) in one batch, the last hour's
    # five-minute buckets in one.
    assert small == Counter({"Query": 6, "BatchGetItem": 2})


# --- recover now ---------------------------------------------------------------------------------


def test_staff_recover_a_dead_worker_and_it_is_audited(staff_client, registered, make_tenant):
    worker = new_worker_id()
    (slot,) = registered(worker, dead=True)
    tenant, issued = make_tenant()
    dispatch_id = create(issued.raw)["dispatchId"]
    claimed = dispatch_storage.dispatch_claim(
        dispatch_storage.dispatch_get(dispatch_id), worker_id=worker, now=utcnow()
    )
    storage.slots_save([replace(slot, status=SlotStatus.IN_USE, dispatch_id=dispatch_id)])
    assert claimed is not None
    confirm = staff_client.get(f"/fleet/workers/{worker}/recover/")
    assert confirm.status_code == 200 and b"Recover now" in confirm.content
    response = staff_client.post(f"/fleet/workers/{worker}/recover/")
    assert response.status_code == 302 and response["Location"] == "/fleet/"
    failed = dispatch_storage.dispatch_get(dispatch_id)
    assert failed.status == DispatchStatus.FAILED and worker in failed.status_reason
    assert tenant_selectors.tenant_get(tenant_id=tenant.tenant_id).concurrent_jobs == 0
    assert storage.slots_for_worker(worker) == []
    fleet_log = tenant_selectors.audit_list(tenant_id="FLEET").items
    assert any(e.action == "worker.recover" and e.resource == f"worker/{worker}" for e in fleet_log)
    audit_page = staff_client.get("/audit/")
    assert audit_page.status_code == 200 and f"worker/{worker}" in audit_page.content.decode()
    latest = tenant_selectors.audit_list(tenant_id=tenant.tenant_id).items[0]
    assert latest.action == "dispatch.recover"


def test_a_live_worker_is_not_recovered(staff_client, registered):
    worker = new_worker_id()
    registered(worker)
    response = staff_client.post(f"/fleet/workers/{worker}/recover/")
    assert response.status_code == 409 and b"is alive" in response.content
    assert len(storage.slots_for_worker(worker)) == 1


def test_an_unknown_worker_is_a_404(staff_client):
    assert staff_client.post(f"/fleet/workers/{new_worker_id()}/recover/").status_code == 404
    assert staff_client.get("/fleet/workers/bad%20id/recover/").status_code == 404


def test_the_fleet_is_for_staff_only(client, django_user_model):
    assert client.get("/fleet/").status_code == 302
    user = django_user_model.objects.create_user("someone", password="pw-1")
    other = Client()
    other.force_login(user)
    assert other.get("/fleet/").status_code == 404
    assert other.post(f"/fleet/workers/{new_worker_id()}/recover/").status_code == 404


def test_a_recovery_needs_the_csrf_token(staff_user, registered):
    worker = new_worker_id()
    registered(worker, dead=True)
    checked = Client(enforce_csrf_checks=True)
    checked.force_login(staff_user)
    assert checked.post(f"/fleet/workers/{worker}/recover/").status_code == 403


# --- /health/fleet ---------------------------------------------------------------------------


def test_health_fleet_reads_the_same_board(client, registered):
    registered(new_worker_id())
    body = json.loads(client.get("/health/fleet").content)
    agents = {a["agent"]: a for a in body["data"]["agents"]}
    board = {a.agent: a for a in selectors.fleet_board(now=utcnow()).agents}
    assert agents["claude"]["available"] is True and agents["grok"]["available"] is False
    assert {k: a["queueDepth"] for k, a in agents.items()} == {
        k: a.queue_depth for k, a in board.items()
    }


def health_fleet_calls(client, requests: int = 1) -> Counter:
    with counting_calls() as log:
        for _ in range(requests):
            assert client.get("/health/fleet").status_code in (200, 503)
    return log.by_operation()


def test_health_fleet_reads_the_store_once_per_window_however_many_ask(client, settings):
    settings.OUTPOST_HEALTH_CACHE_SECONDS = 60
    one = health_fleet_calls(client)
    # The board's reads, plus today's day shards for the run-time histogram (avgDurationMs).
    assert one == Counter({"Query": 6, "BatchGetItem": 3})
    assert health_fleet_calls(client, requests=10) == Counter()
    body = client.get("/health/fleet").json()
    assert body["meta"]["cached"] is True and body["meta"]["cacheAgeMs"] >= 0


def test_health_fleet_recomputes_once_the_window_has_passed(client, settings):
    settings.OUTPOST_HEALTH_CACHE_SECONDS = 0.3
    first = health_fleet_calls(client)
    assert health_fleet_calls(client, requests=3) == Counter()
    time.sleep(0.4)
    assert health_fleet_calls(client) == first
    assert client.get("/health/fleet").json()["meta"]["cached"] is True


def test_concurrent_requests_during_a_recompute_make_one_computation(client, settings, monkeypatch):
    settings.OUTPOST_HEALTH_CACHE_SECONDS = 60
    computed = []
    slow_board = selectors.fleet_board

    def counted(**kwargs):
        computed.append(1)
        time.sleep(0.3)  # long enough for every thread to arrive while it runs
        return slow_board(**kwargs)

    monkeypatch.setattr(health, "fleet_board", counted)
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda: statuses.append(Client().get("/health/fleet").status_code))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(computed) == 1 and len(statuses) == 8
    # Once it is stale, one request recomputes while the others keep the previous answer.
    settings.OUTPOST_HEALTH_CACHE_SECONDS = 0
    client.get("/health/fleet")
    assert len(computed) == 2
