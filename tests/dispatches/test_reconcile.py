"""`manage.py reconcile`: orphaned RUNNING dispatches and drifted concurrency counters."""

import io
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from django.core.management import call_command

from dispatches import storage
from dispatches.domain import DispatchStatus
from fleet import services as pool
from fleet import storage as pool_storage
from outpost_admin.dynamo import utcnow
from tenants import counters
from tenants import storage as tenant_storage

from .workers import create


def claimed_by(tenant, worker_id: str):
    dispatch = create(tenant)
    claimed = storage.dispatch_claim(dispatch, worker_id=worker_id, now=utcnow())
    assert claimed is not None
    return claimed


def reconcile(*args: str) -> str:
    out = io.StringIO()
    call_command("reconcile", *args, stdout=out)
    return out.getvalue()


def concurrent_jobs(tenant) -> int:
    return tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs


@pytest.fixture
def a_worker():
    """Register a one-slot worker; its slots leave the shared pool table after the test, so a
    dead worker made here is never counted by a later test's view of the pool."""
    made: list[str] = []

    def register(*, heartbeat_age: timedelta = timedelta(0)) -> str:
        worker_id = f"w-{uuid.uuid4().hex[:10]}"
        (slot,) = pool.slots_register(worker_id=worker_id, count=1, agents=("claude",))
        pool_storage.slots_save([replace(slot, heartbeat=utcnow() - heartbeat_age)])
        made.append(worker_id)
        return worker_id

    yield register
    for worker_id in made:
        pool.slots_retire_worker(worker_id=worker_id)


def test_it_fails_a_running_dispatch_whose_worker_is_gone(make_tenant):
    tenant, _ = make_tenant()
    dispatch = claimed_by(tenant, f"gone-{uuid.uuid4().hex[:8]}")
    output = reconcile()
    done = storage.dispatch_get(dispatch.dispatch_id)
    assert done.status == DispatchStatus.FAILED
    assert done.status_reason == f"Worker {dispatch.worker_id} stopped heart-beating."
    assert concurrent_jobs(tenant) == 0
    assert "failed: " in output and "requeued: 0" in output


def test_it_fails_a_dispatch_whose_worker_stopped_heart_beating(settings, make_tenant, a_worker):
    tenant, _ = make_tenant()
    worker_id = a_worker(
        heartbeat_age=timedelta(seconds=settings.OUTPOST_WORKER_DEAD_AFTER_SECONDS + 5)
    )
    dispatch = claimed_by(tenant, worker_id)
    reconcile()
    assert storage.dispatch_get(dispatch.dispatch_id).status == DispatchStatus.FAILED


def test_it_leaves_a_live_workers_dispatch_alone(make_tenant, a_worker):
    tenant, _ = make_tenant()
    worker_id = a_worker()
    dispatch = claimed_by(tenant, worker_id)
    reconcile()
    assert storage.dispatch_get(dispatch.dispatch_id).status == DispatchStatus.RUNNING
    assert concurrent_jobs(tenant) == 1


def test_with_requeue_it_queues_the_orphan_again_and_keeps_its_slot(make_tenant):
    tenant, _ = make_tenant()
    dispatch = claimed_by(tenant, f"gone-{uuid.uuid4().hex[:8]}")
    reconcile("--requeue")
    again = storage.dispatch_get(dispatch.dispatch_id)
    assert again.status == DispatchStatus.PENDING and again.worker_id == ""
    assert "stopped heart-beating" in again.status_reason
    assert concurrent_jobs(tenant) == 1


def test_it_repairs_a_drifted_counter_from_the_active_dispatches(make_tenant):
    tenant, _ = make_tenant()
    create(tenant)
    finished = create(tenant)
    storage.dispatch_finish(finished, status=DispatchStatus.COMPLETED, now=utcnow())
    assert counters.set_concurrency(tenant.tenant_id, expected=1, actual=4)
    output = reconcile()
    assert concurrent_jobs(tenant) == 1
    assert f"repaired tenant {tenant.tenant_id}: concurrentJobs 4 -> 1" in output


def test_a_counter_that_leaked_to_a_tenant_with_nothing_active_goes_back_to_zero(make_tenant):
    tenant, _ = make_tenant()
    assert counters.set_concurrency(tenant.tenant_id, expected=0, actual=2)
    reconcile()
    assert concurrent_jobs(tenant) == 0
