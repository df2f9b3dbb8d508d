"""Nothing runs twice and nothing runs unseen: a worker killed mid-run, and who picks up after it.

The workers here are real `manage.py run_worker` processes against the suite's DynamoDB Local,
so SIGKILL is SIGKILL. The agent records each start and end in a file of its own and, on its
first run, starts a child of its own (as a real agent starts git or node) and works slowly.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from dispatches import lifecycle as services
from dispatches import storage
from dispatches.domain import DispatchStatus
from fleet import recovery as reconcile
from fleet import services as pool
from outpost_admin.dynamo import utcnow
from outpost_admin.processes import pids_where_env
from tenants import storage as tenant_storage

from .workers import create, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.server]

AGENT = """
import os, subprocess, sys, time
runs = os.path.join({runs!r}, os.environ["DISPATCH_ID"])
first = not os.path.exists(runs)
with open(runs, "a") as f:
    f.write(f"start {{os.getpid()}}\\n")
if first:
    subprocess.Popen(["sleep", "300"])  # the agent's own child: not ours to signal directly
    print("first run: working slowly", flush=True)
    time.sleep(300)
with open(runs, "a") as f:
    f.write("end\\n")
print("second run: done", flush=True)
"""


def run_worker(endpoint: str, runs: Path, tenant_id: str, worker_id: str, *flags: str):
    env = {
        **os.environ,
        "DYNAMODB_ENDPOINT_URL": endpoint,
        "OUTPOST_AGENT_COMMANDS": json.dumps(
            {"claude": [sys.executable, "-c", AGENT.format(runs=str(runs))]}
        ),
        "LOG_LEVEL": "INFO",
    }
    command = [sys.executable, "manage.py", "run_worker", "--worker-id", worker_id]
    command += ["--tenant", tenant_id, "--concurrency", "4", *flags]
    return subprocess.Popen(
        command,
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def runs_of(runs: Path, dispatch_id: str) -> list[str]:
    path = runs / dispatch_id
    return path.read_text().split("\n")[:-1] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.fixture
def runs(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    yield folder
    for path in folder.iterdir():  # whatever a failed test left running
        for pid in pids_where_env("DISPATCH_ID", path.name):
            os.kill(pid, signal.SIGKILL)


def test_a_worker_killed_during_4_runs_leaves_nothing_running_and_each_runs_again_once(
    dynamodb_local, make_tenant, runs
):
    tenant, _ = make_tenant()
    dispatches = [create(tenant, timeout=600) for _ in range(4)]
    ids = [d.dispatch_id for d in dispatches]
    worker_id = f"supervised-{uuid.uuid4().hex[:8]}"
    first = run_worker(dynamodb_local, runs, tenant.tenant_id, worker_id)
    try:
        wait_for(lambda: all(runs_of(runs, i) for i in ids), timeout=60)
        agents = [int(runs_of(runs, i)[0].split()[1]) for i in ids]
        children = [p for i in ids for p in pids_where_env("DISPATCH_ID", i) if p not in agents]
        assert len(children) == 4  # each agent's `sleep`
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    # The kernel stops every agent with its worker: nothing goes on unrecorded.
    wait_for(lambda: not any(alive(pid) for pid in agents), timeout=10)
    assert all(storage.dispatch_get(i).status == DispatchStatus.RUNNING for i in ids)

    # Its successor under the same id (what a supervisor starts) stops the agents' children,
    # queues the four again with the interruption recorded, and runs each once more.
    second = run_worker(dynamodb_local, runs, tenant.tenant_id, worker_id, "--once")
    output, _ = second.communicate(timeout=120)
    assert second.returncode == 0, output
    assert f"worker {worker_id}: queued again 4 dispatch(es)" in output
    for dispatch_id in ids:
        done = storage.dispatch_get(dispatch_id)
        assert done.status == DispatchStatus.COMPLETED, (dispatch_id, output)
        assert done.interruptions == 1
        assert done.status_reason == f"Worker {worker_id} stopped before it finished. Queued again."
        lines = runs_of(runs, dispatch_id)
        assert [line.split()[0] for line in lines] == ["start", "start", "end"]
        assert pids_where_env("DISPATCH_ID", dispatch_id) == []
    assert not any(alive(pid) for pid in children)
    assert tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs == 0


def test_a_fresh_worker_recovers_a_dead_ones_dispatch_within_dead_after_and_one_pass(
    settings, make_tenant
):
    """Whoever held the recovery lease may be the worker that died: the lease runs out no
    later than its heartbeat does, so a fresh worker's next pass after that recovers it."""
    settings.OUTPOST_RECOVERY_LEASE_SECONDS = settings.OUTPOST_WORKER_DEAD_AFTER_SECONDS
    tenant, _ = make_tenant()
    dead, fresh = f"dead-{uuid.uuid4().hex[:8]}", f"fresh-{uuid.uuid4().hex[:8]}"
    dispatch = create(tenant)
    claimed = storage.dispatch_claim(dispatch, worker_id=dead, now=utcnow())
    assert claimed is not None
    pool.slots_register(worker_id=dead, count=1, agents=("claude",))
    died = utcnow()
    reconcile.sweep(holder=dead, now=died)  # it held the lease when it died
    try:
        just_before = died + timedelta(seconds=settings.OUTPOST_WORKER_DEAD_AFTER_SECONDS - 1)
        assert reconcile.sweep(holder=fresh, now=just_before) is None  # still its lease
        one_pass_after = died + timedelta(
            seconds=settings.OUTPOST_WORKER_DEAD_AFTER_SECONDS + settings.OUTPOST_RECOVERY_SECONDS
        )
        report = reconcile.sweep(holder=fresh, now=one_pass_after)
        assert report is not None and dispatch.dispatch_id in report.failed
    finally:
        reconcile.step_down(holder=fresh)
        reconcile.step_down(holder=dead)
        pool.slots_retire_worker(worker_id=dead)
    done = storage.dispatch_get(dispatch.dispatch_id)
    assert done.status == DispatchStatus.FAILED
    assert done.status_reason == f"Worker {dead} stopped heart-beating."
    assert tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs == 0


def test_the_recovery_lease_never_outlasts_a_dead_workers_heartbeat():
    assert (
        django_settings.OUTPOST_RECOVERY_LEASE_SECONDS
        <= django_settings.OUTPOST_WORKER_DEAD_AFTER_SECONDS
    )


def test_a_worker_stopping_gracefully_hands_back_with_the_interruption_recorded(
    dynamodb_local, make_tenant, runs
):
    tenant, _ = make_tenant()
    dispatch = create(tenant, timeout=600)
    worker_id = f"graceful-{uuid.uuid4().hex[:8]}"
    worker = run_worker(dynamodb_local, runs, tenant.tenant_id, worker_id, "--drain-seconds", "0")
    wait_for(lambda: runs_of(runs, dispatch.dispatch_id), timeout=60)
    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=60)
    handed_back = storage.dispatch_get(dispatch.dispatch_id)
    assert handed_back.status == DispatchStatus.PENDING, output
    assert handed_back.interruptions == 1
    assert pids_where_env("DISPATCH_ID", dispatch.dispatch_id) == []


def test_recover_now_stops_what_is_left_of_a_dead_workers_run_before_failing_it(
    settings, make_tenant
):
    from fleet import recovery
    from outpost_admin.audit import Actor

    tenant, _ = make_tenant()
    dead = f"dead-{uuid.uuid4().hex[:8]}"
    dispatch = create(tenant)
    claimed = storage.dispatch_claim(dispatch, worker_id=dead, now=utcnow())
    assert claimed is not None
    [slot] = pool.slots_register(worker_id=dead, count=1, agents=("claude",))
    pool.slot_take(slot, dispatch_id=dispatch.dispatch_id)
    leftover = subprocess.Popen(  # the agent's child, which its parent's death did not reach
        ["sleep", "300"], env={**os.environ, "DISPATCH_ID": dispatch.dispatch_id}
    )
    settings.OUTPOST_WORKER_DEAD_AFTER_SECONDS = 0
    try:
        failed = recovery.worker_recover(worker_id=dead, actor=Actor(name="tester"))
        assert failed == [dispatch.dispatch_id]
        assert leftover.wait(timeout=10) == -signal.SIGKILL
    finally:
        leftover.kill()
        pool.slots_retire_worker(worker_id=dead)
    done = storage.dispatch_get(dispatch.dispatch_id)
    assert done.status == DispatchStatus.FAILED and dead in done.status_reason
    assert tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs == 0


def test_an_outcome_of_a_run_that_was_queued_again_is_never_recorded_on_the_next_run(
    make_tenant,
):
    """The same worker id claims again after a restart (make run): the old run's outcome,
    or recovery of it, must not end the new run."""
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    first = storage.dispatch_claim(dispatch, worker_id="same-id", now=utcnow())
    assert first is not None and services.dispatch_requeue(first, reason="Restarted.")
    time.sleep(0.01)  # a later claim, a later claim time
    second = storage.dispatch_claim(
        storage.dispatch_get(dispatch.dispatch_id), worker_id="same-id", now=utcnow()
    )
    assert second is not None
    assert not services.dispatch_finish(first, status=DispatchStatus.FAILED, run=first.claimed_at)
    assert not services.dispatch_recover(first, reason="Stale.", requeue=False)
    assert storage.dispatch_get(dispatch.dispatch_id).status == DispatchStatus.RUNNING
    assert services.dispatch_finish(second, status=DispatchStatus.COMPLETED, run=second.claimed_at)
    assert storage.dispatch_get(dispatch.dispatch_id).status == DispatchStatus.COMPLETED
    assert tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs == 0
