"""Issue 6 points 3 and 4, issue 7 point 4: every slot released exactly once, whoever ends the
dispatch; our worker runs only ours; nothing stays RUNNING forever."""

import json
import threading
import uuid
from datetime import timedelta

from botocore.exceptions import EndpointConnectionError
from django.test import Client

from dispatches import lifecycle as services
from dispatches import storage
from dispatches.domain import DispatchStatus
from fleet import recovery as reconcile
from fleet import services as pool
from fleet import storage as fleet_storage
from outpost_admin.dynamo import call, client, to_item, utcnow
from outpost_admin.dynamo.tables import DISPATCHES
from tenants import counters
from tenants import storage as tenant_storage
from tenants.domain import Tier
from tests.dispatches.workers import ACTOR, create, script, use_commands, wait_for, worker_for
from usage import storage as usage_storage

from . import control_plane as cp
from .conftest import SWEEPER, racing_releases

BODY = {"agent": "claude", "task": "Fix the failing test in utils.py"}


def slots_of(tenant) -> int:
    return tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs


def markers_of(tenant) -> int:
    return len(counters.held_slots(tenant_id=tenant.tenant_id))


def post(raw_key, body=BODY):
    return Client().post(
        "/api/v1/dispatches", json.dumps(body), content_type="application/json",
        HTTP_X_API_KEY=raw_key,
    )  # fmt: skip


# --- point 3: released exactly once, whoever ends it ------------------------------------------


def test_a_free_tenant_whose_dispatch_the_control_plane_cancelled_can_dispatch_again(
    make_tenant, sweep
):
    tenant, issued = make_tenant(tier=Tier.FREE)
    first = post(issued.raw)
    assert first.status_code == 201
    assert post(issued.raw).status_code == 429
    cp.cancel(first.json()["data"]["dispatchId"])  # its DELETE: never touches our counter
    assert slots_of(tenant) == 1
    report = sweep()
    assert first.json()["data"]["dispatchId"] in report.released
    assert (slots_of(tenant), markers_of(tenant)) == (0, 0)
    assert post(issued.raw).status_code == 201
    sweep()  # a second pass finds nothing to give back
    assert slots_of(tenant) == 1


def test_the_control_planes_ecs_completion_releases_the_slot_and_counts_the_outcome(
    make_tenant, sweep
):
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    cp.mark_completed(dispatch.dispatch_id)
    sweep()
    assert (slots_of(tenant), markers_of(tenant)) == (0, 0)
    day = usage_storage.usage_get(tenant.tenant_id, dispatch.started_at.date())
    assert day.by_status == {"completed": 1}


def test_a_dispatch_ttl_deleted_gives_its_slot_back(make_tenant, sweep):
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    call(
        "delete_item", TableName=DISPATCHES.name, Key=to_item({"dispatch_id": dispatch.dispatch_id})
    )
    sweep()
    assert (slots_of(tenant), markers_of(tenant)) == (0, 0)


def test_our_cancel_and_a_late_sweep_release_once(make_tenant, sweep):
    tenant, _ = make_tenant()
    kept = create(tenant)
    dispatch = create(tenant)
    services.dispatch_cancel(dispatch=dispatch, actor=ACTOR)
    assert storage.slot_release_orphan(tenant.tenant_id, dispatch.dispatch_id, None) is False
    sweep()
    assert (slots_of(tenant), markers_of(tenant)) == (1, 1)  # only `kept` holds one
    assert not storage.dispatch_get(kept.dispatch_id).status.is_terminal


def test_a_cancel_racing_the_control_planes_cancel_releases_once(make_tenant, sweep):
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    cp.cancel(dispatch.dispatch_id)
    assert services.dispatch_finish(dispatch, status=DispatchStatus.COMPLETED) is False
    assert racing_releases(tenant.tenant_id, dispatch.dispatch_id) == [False, False, True]
    assert slots_of(tenant) == 0


def test_recovery_takes_turns_under_a_lease(make_tenant, sweep):
    sweep()
    assert reconcile.sweep(holder="another-worker") is None  # the lease is held
    fleet_storage.lease_release(reconcile.LEASE, holder=SWEEPER)
    assert reconcile.sweep(holder="another-worker") is not None
    fleet_storage.lease_release(reconcile.LEASE, holder="another-worker")


def test_the_worker_loop_runs_recovery_by_itself(settings, make_tenant):
    tenant, issued = make_tenant(tier=Tier.FREE)
    first = post(issued.raw).json()["data"]["dispatchId"]
    cp.cancel(first)
    worker = worker_for(tenant, recover_every=0.2)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: worker.sweeps >= 1, timeout=60)
        assert slots_of(tenant) == 0
    finally:
        worker.stop()
        thread.join(timeout=30)
    # it handed the lease on when it stopped
    assert reconcile.sweep(holder=SWEEPER) is not None
    fleet_storage.lease_release(reconcile.LEASE, holder=SWEEPER)


# --- point 4: our worker runs only what was created for it -------------------------------------


def test_the_worker_never_claims_a_dispatch_the_control_plane_wrote(settings, make_tenant):
    use_commands(settings, claude=script("print('ran')"))
    tenant, _ = make_tenant()
    theirs = cp.create_dispatch(tenant.tenant_id)
    ours = create(tenant)
    worker = worker_for(tenant)
    assert worker.run(once=True) == 1
    assert storage.dispatch_get(ours.dispatch_id).status == DispatchStatus.COMPLETED
    assert cp.get_dispatch(theirs["dispatch_id"])["status"] == "PENDING"
    assert (
        storage.dispatch_claim(
            storage.dispatch_get(theirs["dispatch_id"]), worker_id="w", now=utcnow()
        )
        is None
    )


def test_recovery_leaves_the_control_planes_running_ecs_dispatches_alone(make_tenant, sweep):
    tenant, _ = make_tenant()
    theirs = cp.launch_on_ecs(cp.create_dispatch(tenant.tenant_id))
    report = reconcile.reconcile(now=utcnow() + timedelta(days=2))  # long overdue, if it were ours
    assert theirs["dispatch_id"] not in report.failed + report.requeued
    assert cp.get_dispatch(theirs["dispatch_id"])["status"] == "RUNNING"


# --- issue 7 point 4: nothing stays RUNNING forever --------------------------------------------


def test_a_dispatch_whose_terminal_write_fails_is_finished_later_by_its_worker(
    settings, make_tenant
):
    use_commands(settings, claude=script("print('done')"))
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    failures: list[int] = []

    def outage(params, **_):
        # The terminal write only: the claim is a transaction too (it leaves the queue count).
        if b"ended_at" in params["body"] and len(failures) < 3:
            failures.append(1)
            raise EndpointConnectionError(endpoint_url="http://store")

    events = client().meta.events
    events.register("before-call.dynamodb.TransactWriteItems", outage)
    try:
        assert worker_for(tenant).run(once=True) == 1
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", outage)
    assert len(failures) == 3
    assert storage.dispatch_get(dispatch.dispatch_id).status == DispatchStatus.COMPLETED
    assert (slots_of(tenant), markers_of(tenant)) == (0, 0)


def test_a_running_dispatch_past_timeout_and_grace_is_failed_whatever_its_heartbeat(
    make_tenant, sweep
):
    tenant, _ = make_tenant()
    dispatch = create(tenant, timeout=60)
    worker_id = f"alive-{uuid.uuid4().hex[:8]}"
    (slot,) = pool.slots_register(worker_id=worker_id, count=1, agents=("claude",))
    try:
        claimed = storage.dispatch_claim(dispatch, worker_id=worker_id, now=utcnow())
        assert claimed is not None
        assert reconcile.sweep(holder=SWEEPER) is not None  # alive and on time: left alone
        assert storage.dispatch_get(dispatch.dispatch_id).status == DispatchStatus.RUNNING
        later = utcnow() + timedelta(seconds=60 + 120 + 5)
        report = reconcile.sweep(holder=SWEEPER, now=later)
        assert report is not None and report.failed == [dispatch.dispatch_id]
        done = storage.dispatch_get(dispatch.dispatch_id)
        assert done.status == DispatchStatus.FAILED and "grace" in done.status_reason
        assert (slots_of(tenant), markers_of(tenant)) == (0, 0)
        reconcile.sweep(holder=SWEEPER, now=later)  # released once, not again
        assert slots_of(tenant) == 0
    finally:
        pool.slot_retire(slot)
        fleet_storage.lease_release(reconcile.LEASE, holder=SWEEPER)
