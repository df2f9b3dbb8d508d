"""Pool items of the workers, and /health/fleet computed from them."""

import json
import threading
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from dispatches import storage as storage_of_dispatches
from dispatches.domain import DispatchStatus
from fleet import services, storage
from fleet.domain import ANY_AGENT, Slot, SlotStatus, local_task_arn, summarize
from outpost_admin.dynamo import utcnow
from tests.dispatches.workers import create, script, use_commands, wait_for, worker_for


def worker_id(label: str = "w") -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def registered():
    """Register slots for a worker id; removes them afterwards."""
    made: list[Slot] = []

    def register(worker: str, count: int = 1) -> list[Slot]:
        slots = services.slots_register(worker_id=worker, count=count)
        made.extend(slots)
        return slots

    yield register
    for slot in made:
        storage.slot_delete(slot)


def fleet_health(client) -> tuple[int, dict]:
    response = client.get("/health/fleet")
    return response.status_code, json.loads(response.content)


def test_slots_are_stored_with_the_shape_of_the_pool_table(registered):
    worker = worker_id()
    (slot,) = registered(worker)
    (stored,) = storage.slots_for_worker(worker)
    assert stored == slot
    assert stored.agent_type == ANY_AGENT and stored.task_arn == f"local:{worker}:0"
    assert stored.status == SlotStatus.IDLE and stored.ttl > utcnow().timestamp() + 60


def test_a_workers_slots_are_found_by_key_prefix_without_its_neighbours(registered):
    base = worker_id()
    registered(f"{base}1", count=2)
    registered(f"{base}10", count=1)
    assert [s.task_arn for s in storage.slots_for_worker(f"{base}1")] == [
        local_task_arn(f"{base}1", 0),
        local_task_arn(f"{base}1", 1),
    ]
    assert len(storage.slots_for_agent(ANY_AGENT)) >= 3


def test_taking_and_releasing_a_slot_records_the_dispatch(registered):
    (slot,) = registered(worker_id())
    taken = services.slot_take(slot, dispatch_id="01JDISPATCH")
    assert storage.slots_for_worker(slot.worker_id) == [taken]
    assert taken.status == SlotStatus.IN_USE and taken.dispatch_id == "01JDISPATCH"
    released = services.slot_release(taken, retiring=True)
    assert released.status == SlotStatus.TERMINATING and released.dispatch_id == ""
    assert storage.slots_for_worker(slot.worker_id) == [released]


def test_a_heartbeat_writes_back_a_slot_that_expired_meanwhile(registered):
    (slot,) = registered(worker_id())
    storage.slot_delete(slot)
    assert storage.slot_heartbeat(slot, now=utcnow(), ttl=slot.ttl) is False
    fresh = services.slot_heartbeat(slot)
    assert storage.slots_for_worker(slot.worker_id) == [fresh]
    assert fresh.heartbeat >= slot.heartbeat


def test_the_summary_counts_live_slots_and_workers_and_sets_stale_ones_apart():
    now = utcnow()
    slot = Slot(ANY_AGENT, "local:a:0", SlotStatus.IDLE, "a", now, now, now, 0)
    slots = [
        slot,
        replace(slot, task_arn="local:a:1", status=SlotStatus.IN_USE),
        replace(slot, task_arn="local:b:0", worker_id="b", heartbeat=now - timedelta(minutes=5)),
    ]
    summary = summarize(slots, now=now, dead_after=timedelta(seconds=60))
    assert summary.workers == {"a"} and summary.stale == 1
    assert (summary.idle, summary.in_use, summary.live_slots) == (1, 1, 2)


def test_health_fleet_counts_the_slots_of_live_workers(client, registered):
    _, before = fleet_health(client)
    registered(worker_id(), count=2)
    status, after = fleet_health(client)
    assert status == 200 and after["data"]["status"] == "healthy"
    assert after["data"]["workers"] == before["data"]["workers"] + 1
    assert after["data"]["slots"]["idle"] == before["data"]["slots"]["idle"] + 2


def test_health_fleet_is_unavailable_when_no_worker_is_alive(client, settings, registered):
    registered(worker_id())
    settings.OUTPOST_WORKER_DEAD_AFTER_SECONDS = -1  # every heartbeat counts as too old
    status, body = fleet_health(client)
    assert status == 503 and body["data"]["status"] == "no_workers"
    assert body["data"]["slots"]["stale"] >= 1 and body["error"]["code"] == "SERVICE_UNAVAILABLE"


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
