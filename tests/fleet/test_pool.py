"""Pool items of the workers, and /health/fleet computed from them."""

import json
import threading
import uuid
from datetime import timedelta

import pytest

from dispatches import storage as storage_of_dispatches
from dispatches.domain import DispatchStatus
from fleet import services, storage
from fleet.domain import PoolItem, Slot, SlotStatus, local_task_arn, summarize
from outpost_admin.dynamo import utcnow
from tests.dispatches.workers import create, script, use_commands, wait_for, worker_for


def worker_id(label: str = "w") -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


AGENTS_OF_A_SLOT = ("claude", "codex")


@pytest.fixture
def registered():
    """Register slots for a worker id; removes them afterwards."""
    made: list[Slot] = []

    def register(worker: str, count: int = 1, agents=AGENTS_OF_A_SLOT) -> list[Slot]:
        slots = services.slots_register(worker_id=worker, count=count, agents=agents)
        made.extend(slots)
        return slots

    yield register
    for slot in made:
        storage.slot_delete(slot)


def fleet_health(client) -> tuple[int, dict]:
    response = client.get("/health/fleet")
    return response.status_code, json.loads(response.content)


def test_a_slot_is_stored_as_an_item_per_real_agent_type_it_serves(registered):
    worker = worker_id()
    (slot,) = registered(worker)
    assert storage.slots_for_worker(worker) == [slot]
    for agent in AGENTS_OF_A_SLOT:
        (item,) = [i for i in storage.items_for_agent(agent) if i.task_arn == slot.task_arn]
        assert item.status == "idle" and item.worker_id == worker and not item.is_control_plane
    assert not [i for i in storage.items_for_agent("gemini") if i.worker_id == worker]
    assert slot.task_arn == f"local:{worker}:0" and slot.ttl > utcnow().timestamp() + 60


def test_a_workers_slots_are_found_by_key_prefix_without_its_neighbours(registered):
    base = worker_id()
    registered(f"{base}1", count=2)
    registered(f"{base}10", count=1)
    assert [s.task_arn for s in storage.slots_for_worker(f"{base}1")] == [
        local_task_arn(f"{base}1", 0),
        local_task_arn(f"{base}1", 1),
    ]


def test_taking_and_releasing_a_slot_records_the_dispatch_on_every_item(registered):
    (slot,) = registered(worker_id())
    taken = services.slot_take(slot, dispatch_id="01JDISPATCH")
    assert storage.slots_for_worker(slot.worker_id) == [taken]
    assert taken.status == SlotStatus.IN_USE and taken.dispatch_id == "01JDISPATCH"
    items = [i for a in AGENTS_OF_A_SLOT for i in storage.items_for_agent(a)]
    mine = [i for i in items if i.task_arn == slot.task_arn]
    assert {(i.status, i.dispatch_id) for i in mine} == {("in_use", "01JDISPATCH")}
    released = services.slot_release(taken, retiring=True)
    assert released.status == SlotStatus.TERMINATING and released.dispatch_id == ""
    assert storage.slots_for_worker(slot.worker_id) == [released]


def test_a_heartbeat_writes_back_a_slot_that_expired_meanwhile(registered):
    (slot,) = registered(worker_id())
    storage.slot_delete(slot)
    (fresh,) = services.slots_heartbeat([slot])
    assert storage.slots_for_worker(slot.worker_id) == [fresh]
    assert fresh.heartbeat >= slot.heartbeat


def test_the_summary_counts_per_agent_and_sets_our_stale_slots_apart():
    now = utcnow()
    old = now - timedelta(minutes=5)
    items = [
        PoolItem("claude", "local:a:0", "idle", "a", now),
        PoolItem("codex", "local:a:0", "idle", "a", now),
        PoolItem("claude", "local:a:1", "in_use", "a", now),
        PoolItem("claude", "local:b:0", "idle", "b", old),  # a dead worker's
        PoolItem("claude", "arn:aws:ecs:task/1", "idle"),  # the control plane's: no heartbeat
    ]
    summary = summarize(items, now=now, dead_after=timedelta(seconds=60))
    assert summary.workers == {"a"} and summary.stale == 1 and summary.control_plane_tasks == 1
    claude = summary.by_agent["claude"]
    assert (claude.total, claude.idle, claude.in_use) == (3, 2, 1)
    assert summary.slots == {"idle": 1, "in_use": 1}


def test_health_fleet_counts_the_slots_of_live_workers(client, registered):
    _, before = fleet_health(client)
    registered(worker_id(), count=2)
    status, after = fleet_health(client)
    assert status == 200 and after["data"]["status"] in ("healthy", "degraded")
    assert after["data"]["workers"] == before["data"]["workers"] + 1
    assert after["data"]["slots"]["idle"] == before["data"]["slots"]["idle"] + 2
    pool = after["data"]["pool"]
    assert pool["idleTasks"] == before["data"]["pool"]["idleTasks"] + 4  # 2 slots x 2 agents


def test_health_fleet_is_unavailable_when_no_agent_has_an_idle_task(client, settings, registered):
    registered(worker_id())
    settings.OUTPOST_WORKER_DEAD_AFTER_SECONDS = -1  # every heartbeat counts as too old
    status, body = fleet_health(client)
    if status == 503:  # (the control plane's own tasks, if a test left some, still count)
        assert body["status"] == "unhealthy" and body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["data"]["slots"]["stale"] >= 1 and body["data"]["slots"]["total"] == 0


def test_a_running_worker_marks_its_slot_in_use_and_removes_its_slots_on_exit(
    settings, make_tenant
):
    use_commands(settings, claude=script("import time; time.sleep(1.5)"))
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    worker = worker_for(tenant, concurrency=2)
    thread = threading.Thread(target=worker.run, kwargs={"once": True})
    thread.start()
    slots = wait_for(
        lambda: [s for s in storage.slots_for_worker(worker.worker_id) if s.dispatch_id]
    )
    assert [(s.status, s.dispatch_id) for s in slots] == [(SlotStatus.IN_USE, dispatch.dispatch_id)]
    assert len(storage.slots_for_worker(worker.worker_id)) == 2
    thread.join(timeout=15)
    assert storage.slots_for_worker(worker.worker_id) == []
    assert worker.processed == 1
    assert (
        storage_of_dispatches.dispatch_get(dispatch.dispatch_id).status == DispatchStatus.COMPLETED
    )


def test_heartbeats_refresh_every_slot_while_the_worker_runs(settings, make_tenant):
    settings.OUTPOST_WORKER_HEARTBEAT_SECONDS = 0.2
    use_commands(settings, claude=script("import time; time.sleep(1.2)"))
    tenant, _ = make_tenant()
    create(tenant)
    worker = worker_for(tenant)
    thread = threading.Thread(target=worker.run, kwargs={"once": True})
    thread.start()
    (taken,) = wait_for(lambda: in_use(worker.worker_id))
    wait_for(lambda: [s for s in in_use(worker.worker_id) if s.heartbeat > taken.heartbeat])
    thread.join(timeout=15)


def in_use(worker: str) -> list[Slot]:
    return [s for s in storage.slots_for_worker(worker) if s.status == SlotStatus.IN_USE]
