"""Issue 6 points 5, 6 and 7: what the control plane writes shows up here, what we write its
read path accepts, and the shapes agree (tags, idempotency records, pool, /health)."""

import json
import uuid

import pytest
from django.test import Client

from dispatches import selectors as dispatch_selectors
from dispatches import storage
from dispatches.domain import DispatchStatus
from fleet import health_stats
from fleet import selectors as fleet_selectors
from fleet import services as pool
from fleet import storage as pool_storage
from outpost_admin.dynamo import utcnow
from tenants import selectors, services
from tenants import storage as tenant_storage
from tenants.domain import Tier
from tests.conftest import roll_up, unique_email
from tests.dispatches.workers import create
from usage import storage as usage_storage
from usage.figures import Cells

from . import control_plane as cp

BODY = {"agent": "claude", "task": "Fix the failing test in utils.py"}


def listed(tenant_id, **filters) -> bool:
    cursor = None
    while True:
        page = selectors.tenant_list(cursor=cursor, limit=100, **filters)
        if any(t.tenant_id == tenant_id for t in page.items):
            return True
        if not page.cursor:
            return False
        cursor = page.cursor


# --- point 5: what the control plane writes shows up here -------------------------------------


def test_its_tenants_are_listed_and_found_by_name_and_email_after_recovery(sweep, actor):
    name = f"Zq Cp Tenant {uuid.uuid4().hex[:6]}"
    email = unique_email("cp")
    theirs = cp.create_tenant(name, email)
    assert not listed(theirs["tenantId"], search=name[:12])
    sweep(until=lambda: tenant_storage.tenant_id_by_email(email) is not None)
    assert listed(theirs["tenantId"], search=name[:12].lower())
    assert [t.tenant_id for t in selectors.tenant_list(search=email).items] == [theirs["tenantId"]]
    with pytest.raises(services.ServiceError):
        services.tenant_provision(name="Copycat", email=email.upper(), tier=Tier.FREE, actor=actor)
    cp.get_tenant(theirs["tenantId"])  # and its own mapper still reads the item


def test_its_dispatches_show_in_the_staff_history_by_day_the_tenants_and_todays_usage(
    make_tenant, sweep
):
    tenant, _ = make_tenant()
    theirs = cp.create_dispatch(tenant.tenant_id, "codex", tags={"team": "web"})
    ids = [
        d.dispatch_id for d in dispatch_selectors.dispatch_list(tenant_id=tenant.tenant_id).items
    ]
    assert ids == [theirs["dispatch_id"]]  # its own index: no fill-in needed

    def in_day() -> bool:
        page = dispatch_selectors.dispatch_list_day(day=utcnow().date(), agent="codex", limit=100)
        return theirs["dispatch_id"] in [d.dispatch_id for d in page.items]

    sweep(until=in_day)
    usage = usage_storage.usage_get(tenant.tenant_id, utcnow().date())
    assert usage.dispatches == 1 and usage.by_agent == {"codex": 1}
    cp.mark_completed(theirs["dispatch_id"])
    sweep(until=lambda: usage_storage.usage_get(tenant.tenant_id, utcnow().date()).by_status)
    sweep()  # seen again: still counted once
    usage = usage_storage.usage_get(tenant.tenant_id, utcnow().date())
    assert (usage.dispatches, usage.by_status) == (1, {"completed": 1})
    shown = storage.dispatch_get(theirs["dispatch_id"])
    assert shown.tags == {"team": "web"} and not shown.is_ours


# --- point 6: shapes agree -----------------------------------------------------------------------


def test_an_idempotency_record_it_wrote_replays_the_dispatch_it_names(make_tenant):
    tenant, issued = make_tenant()
    theirs = cp.create_dispatch(tenant.tenant_id, idempotency_key="order-7")
    response = Client().post(
        "/api/v1/dispatches",
        json.dumps({**BODY, "idempotencyKey": "order-7"}),
        content_type="application/json",
        HTTP_X_API_KEY=issued.raw,
    )
    assert response.status_code == 201 and response["Idempotent-Replayed"] == "true"
    assert response.json()["data"]["dispatchId"] == theirs["dispatch_id"]
    assert tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs == 0  # nothing new taken


def test_its_mappers_read_what_we_write(make_tenant):
    tenant, issued = make_tenant()
    response = Client().post(
        "/api/v1/dispatches",
        json.dumps({**BODY, "tags": {"team": "web", "pr": "12"}}),
        content_type="application/json",
        HTTP_X_API_KEY=issued.raw,
    )
    dispatch_id = response.json()["data"]["dispatchId"]
    read = cp.get_dispatch(dispatch_id)
    assert read["tags"] == {"team": "web", "pr": "12"} and read["status"] == "PENDING"
    assert read["user_id"] == tenant.tenant_id and read["origin"] == "outpost-admin"
    assert cp.find_by_idempotency_key(tenant.tenant_id, "nope") is None
    assert cp.get_tenant(tenant.tenant_id)["currentUsage"]["concurrentJobs"] == 1
    assert cp.authenticate(issued.raw)[0] == 200


def test_its_pool_metrics_count_our_slots_per_agent(registered_slots):
    before = cp.aggregate_metrics()
    registered_slots(count=2, agents=("claude", "codex"))
    after = cp.aggregate_metrics()
    by_agent = {m["agentType"]: m for m in after["byAgent"]}
    was = {m["agentType"]: m for m in before["byAgent"]}
    assert by_agent["claude"]["idleTasks"] == was["claude"]["idleTasks"] + 2
    assert by_agent["codex"]["idleTasks"] == was["codex"]["idleTasks"] + 2
    assert by_agent["gemini"]["idleTasks"] == was["gemini"]["idleTasks"]


def test_its_pool_tasks_are_control_plane_tasks_here_never_dead_workers(client):
    task = cp.create_pool_task("gemini")
    try:
        body = client.get("/health/fleet").json()
        gemini = next(a for a in body["data"]["agents"] if a["agent"] == "gemini")
        assert gemini["available"] is True and gemini["idleWorkers"] >= 1
        assert body["data"]["controlPlaneTasks"] >= 1
        items = pool_storage.items_for_agent("gemini")
        assert [i.is_control_plane for i in items if i.task_arn == task["task_arn"]] == [True]
        assert body["data"]["pool"]["idleTasks"] == cp.aggregate_metrics()["idleTasks"]
    finally:
        cp.delete_pool_task(task)


def test_health_answers_in_the_control_planes_shapes(client, registered_slots):
    registered_slots(count=1, agents=("claude",))
    overall = client.get("/health").json()
    assert {"success", "status", "version", "uptime", "checks"} <= set(overall)
    assert overall["status"] == "healthy" and overall["checks"]["dynamodb"]["status"] == "pass"
    assert client.get("/health/live").json()["status"] == "ok"
    assert client.get("/health/ready").json()["status"] == "ready"
    fleet = client.get("/health/fleet").json()
    assert fleet["success"] is True and fleet["status"] in ("healthy", "degraded")
    data = fleet["data"]
    assert {"status", "pool", "agents", "uptime", "timestamp"} <= set(data)
    assert {"totalTasks", "idleTasks", "inUseTasks", "terminatingTasks", "byAgent"} <= set(
        data["pool"]
    )
    assert [a["agent"] for a in data["agents"]] == ["claude", "codex", "gemini", "aider", "grok"]
    assert {"agent", "available", "modelId", "idleWorkers", "busyWorkers", "maxConcurrent"} <= set(
        data["agents"][0]
    )
    assert cp.shape_errors(data, cp.FLEET_HEALTH_RESPONSE) == []
    assert data["system"]["memoryTotalMB"] > 0 and data["system"]["heapUsedMB"] > 0


def fleet_health() -> dict:
    return Client().get("/health/fleet").json()["data"]


def test_health_fleet_counts_the_dispatches_that_finish(make_tenant):
    tenant, _ = make_tenant()
    roll_up()
    before = fleet_health()
    for status in (DispatchStatus.COMPLETED, DispatchStatus.FAILED, DispatchStatus.CANCELLED):
        dispatch = create(tenant, agent="codex")
        claimed = storage.dispatch_claim(dispatch, worker_id="compat-w", now=utcnow())
        assert claimed is not None
        storage.dispatch_finish(claimed, status=status, now=utcnow())
    roll_up()  # the workers' stream follower, within seconds
    after = fleet_health()
    grew = {
        k: after["dispatches"]["byStatus"][k] - n
        for k, n in before["dispatches"]["byStatus"].items()
    }
    assert grew == {
        "pending": 0,
        "running": 0,
        "completed": 1,
        "failed": 1,
        "cancelled": 1,
        "timeout": 0,
    }
    assert after["dispatches"]["lastHourTotal"] == before["dispatches"]["lastHourTotal"] + 3
    assert after["dispatches"]["lastHourTotal"] == sum(after["dispatches"]["byStatus"].values())
    codex = next(a for a in after["agents"] if a["agent"] == "codex")
    last_hour = next(
        a for a in fleet_selectors.fleet_board(now=utcnow()).agents if a.agent == "codex"
    ).last_hour
    ended = last_hour["completed"] + last_hour["failed"] + last_hour["timeout"]
    assert codex["successRate"] == round(100 * last_hour["completed"] / ended)
    # Each run took well under a second: the histogram's first bucket, counted as 0.5 s.
    today = utcnow().date()
    histogram = usage_storage.global_cells([today])[today]
    assert histogram.run_time[("codex", 0)] >= 3
    assert 0 < codex["avgDurationMs"] == health_stats.avg_duration_ms("codex", histogram)


def test_the_average_run_time_counts_each_run_at_its_buckets_midpoint():
    cells = Cells()
    cells.run_time.update({("claude", 0): 1, ("claude", 3): 1, ("codex", 16): 2})
    assert health_stats.avg_duration_ms("claude", cells) == 4000  # (0.5 s + 7.5 s) / 2
    assert health_stats.avg_duration_ms("codex", cells) == 86_400_000  # the open bucket: 24 h
    assert health_stats.avg_duration_ms("grok", cells) == 0


def test_the_success_rate_is_the_control_planes_formula():
    assert health_stats.success_rate({}) == 100
    assert health_stats.success_rate({"completed": 3, "failed": 1, "cancelled": 5}) == 75
    assert health_stats.success_rate({"completed": 1, "failed": 1, "timeout": 1}) == 33


@pytest.fixture
def registered_slots():
    made = []

    def register(*, count, agents):
        worker = f"compat-{uuid.uuid4().hex[:8]}"
        slots = pool.slots_register(worker_id=worker, count=count, agents=agents)
        made.extend(slots)
        return slots

    yield register
    for slot in made:
        pool.slot_retire(slot)


def test_a_dispatch_of_ours_finished_here_reads_back_in_its_mapper(make_tenant):
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    storage.dispatch_finish(dispatch, status=DispatchStatus.COMPLETED, now=utcnow())
    read = cp.get_dispatch(dispatch.dispatch_id)
    assert read["status"] == "COMPLETED" and read["version"] == 2
    assert cp.get_tenant(tenant.tenant_id)["currentUsage"]["concurrentJobs"] == 0
