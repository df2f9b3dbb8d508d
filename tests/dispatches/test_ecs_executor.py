"""The ECS executor's whole lifecycle: botocore's Stubber on the ECS and CloudWatch Logs clients,
DynamoDB Local for everything else (claims, the task ARN, logs, pool items, counters).

The follower runs rounds only when a test calls `follow_round()`, so each DescribeTasks,
StopTask and GetLogEvents happens exactly where the test expects it.
"""

import re
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from botocore.stub import ANY, Stubber

from dispatches import lifecycle as services
from dispatches import storage
from dispatches.domain import Dispatch, DispatchStatus
from fleet import recovery
from fleet import recovery as reconcile
from fleet import selectors as fleet
from fleet import services as pool_services
from fleet import storage as pool_storage
from fleet.board import WorkerRow
from fleet.domain import Slot, SlotStatus, summarize
from fleet.executors_ecs import EcsConfig, EcsExecutor, run_task_params
from fleet.worker import Worker
from outpost_admin.dynamo import aws, counting_calls, utcnow
from tenants import storage as tenant_storage
from tenants.domain import Tenant, Tier

from .workers import ACTOR, a_dispatch, create, in_background, logs, wait_for, worker_for

ACCOUNT = "123456789012"
CLUSTER = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/outpost-test"
ARN = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/outpost-test/0123456789abcdef"
CONFIG = EcsConfig(
    cluster=CLUSTER,
    subnets=("subnet-a", "subnet-b"),
    security_groups=("sg-1",),
    environment="test",
    account_id=ACCOUNT,
    region="us-east-1",
)
STOPPED_REASON = "Essential container in task exited"


@pytest.fixture
def stubs():
    """(ecs, logs) Stubbers on the very clients the executor uses; all responses must be used."""
    aws.reset_clients()
    with Stubber(aws.ecs()) as ecs, Stubber(aws.logs()) as cloudwatch:
        yield ecs, cloudwatch
        ecs.assert_no_pending_responses()
        cloudwatch.assert_no_pending_responses()
    aws.reset_clients()


def executor(**options) -> EcsExecutor:
    return EcsExecutor(config=CONFIG, follow_in_background=False, retry_seconds=0, **options)


def task(status: str, *, exit_code: int | None = None, reason: str = STOPPED_REASON) -> dict:
    container: dict = {"name": "claude", "lastStatus": status}
    described: dict = {"taskArn": ARN, "lastStatus": status, "containers": [container]}
    described |= {"cpu": "2048", "memory": "4096"}  # the task's size, as ECS describes it
    if status == "STOPPED":
        described["stoppedReason"] = reason
        if exit_code is not None:
            container["exitCode"] = exit_code
    return described


def expect_describe(ecs, *described: dict) -> None:
    ecs.add_response(
        "describe_tasks",
        {"tasks": list(described), "failures": []},
        {"cluster": CLUSTER, "tasks": [ARN]},
    )


def expect_logs(cloudwatch, dispatch, lines: list[str], *, after: str | None, then: str, **start):
    """One round of log pulling: a page with the new lines, then the page that repeats the token."""
    base = {
        "logGroupName": "/outpost/agents/claude",
        "logStreamName": dispatch.dispatch_id,
        "startFromHead": True,
    }
    events = [{"timestamp": 1, "message": line, "ingestionTime": 1} for line in lines]
    cloudwatch.add_response(
        "get_log_events",
        {"events": events, "nextForwardToken": then},
        {**base, **({"nextToken": after} if after else start)},
    )
    cloudwatch.add_response(
        "get_log_events", {"events": [], "nextForwardToken": then}, {**base, "nextToken": then}
    )


def launched(ecs, dispatch) -> None:
    ecs.add_response(
        "run_task",
        {"tasks": [{"taskArn": ARN, "lastStatus": "PROVISIONING"}], "failures": []},
        run_task_params(dispatch, CONFIG),
    )


def following(runner: EcsExecutor) -> None:
    wait_for(lambda: runner.following == [ARN])


def expect_stop(ecs, reason: str) -> None:
    ecs.add_response(
        "stop_task",
        {"task": {"taskArn": ARN, "lastStatus": "RUNNING", "desiredStatus": "STOPPED"}},
        {"cluster": CLUSTER, "task": ARN, "reason": reason},
    )


@dataclass
class Run:
    """A dispatch whose task a worker launched and follows, a round when the test says."""

    tenant: Tenant
    dispatch: Dispatch
    runner: EcsExecutor
    worker: Worker
    thread: threading.Thread

    def ended(self) -> Dispatch:
        """The dispatch once the worker is done: the task's pool item gone, the slot released."""
        self.thread.join(timeout=10)
        assert pool_item() is None and concurrent_jobs(self.tenant) == 0
        return storage.dispatch_get(self.dispatch.dispatch_id)


def started(make_tenant, ecs, *, timeout: int = 60, **options) -> Run:
    tenant, _ = make_tenant()
    dispatch = create(tenant, timeout=timeout)
    runner = executor(**options)
    worker = worker_for(tenant, executor=runner)
    launched(ecs, dispatch)
    thread = in_background(worker)
    following(runner)
    return Run(tenant, dispatch, runner, worker, thread)


def adopted(run: Run) -> Run:
    """Another worker, which adopts the task of the run's (dead or stopped) worker."""
    runner = executor()
    worker = worker_for(run.tenant, executor=runner, adopt_seconds=0)
    thread = in_background(worker)
    following(runner)
    return Run(run.tenant, run.dispatch, runner, worker, thread)


def pool_item(arn: str = ARN):
    return next((s for s in pool_storage.items_for_agent("claude") if s.task_arn == arn), None)


def concurrent_jobs(tenant) -> int:
    return tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs


def board_row(worker_id: str) -> WorkerRow:
    board = fleet.fleet_board(now=utcnow())
    return next(w for w in board.workers if w.worker_id == worker_id)


def fleet_page_row(client, worker_id: str) -> str:
    html = client.get("/fleet/").content.decode()
    match = re.search(rf'<tr id="worker-{worker_id}".*?</tr>', html, re.S)
    assert match, worker_id
    return match.group(0)


def test_run_task_carries_the_control_planes_contract():
    dispatch = a_dispatch(
        agent="codex",
        model_id="gpt-5.1-codex-mini",
        task="Fix the failing test",
        timeout_seconds=900,
    )
    params = run_task_params(dispatch, CONFIG, attempt=2)
    assert params["taskDefinition"] == (
        f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/outpost-test-codex"
    )
    assert params["cluster"] == CLUSTER and params["launchType"] == "FARGATE"
    assert params["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": ["subnet-b", "subnet-a"],  # a retry after a capacity failure: another AZ first
        "securityGroups": ["sg-1"],
        "assignPublicIp": "DISABLED",
    }
    (container,) = params["overrides"]["containerOverrides"]
    assert (container["name"], container["cpu"], container["memory"]) == ("codex", 512, 1024)
    assert {e["name"]: e["value"] for e in container["environment"]} == {
        "DISPATCH_ID": dispatch.dispatch_id,
        "AGENT_TYPE": "codex",
        "MODEL_ID": "gpt-5.1-codex-mini",
        "TASK": "Fix the failing test",
        "WORKSPACE_MODE": "ephemeral",
        "WORKSPACE_INIT_MODE": "full",
        "TIMEOUT_SECONDS": "900",
        "OUTPUT_BUCKET": "outpost-outputs",
        "USER_ID": "tenant-1",
        "AWS_REGION": "us-east-1",
        "REPO_URL": "https://github.com/acme/widgets",
        "OUTPOST_ENV": "test",
    }
    assert {"key": "origin", "value": "outpost-admin"} in params["tags"]
    assert params["clientToken"] == dispatch.dispatch_id
    spot = EcsConfig(**{**CONFIG.__dict__, "capacity_provider": "FARGATE_SPOT"})
    with_spot = run_task_params(dispatch, spot)
    assert "launchType" not in with_spot
    assert with_spot["capacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE_SPOT", "weight": 1}
    ]


def test_a_task_that_exits_0_completes_the_dispatch_with_its_logs(settings, make_tenant, stubs):
    ecs, cloudwatch = stubs
    settings.OUTPOST_EXECUTOR = "ecs"
    run = started(make_tenant, ecs)
    dispatch, worker = run.dispatch, run.worker

    running = storage.dispatch_get(dispatch.dispatch_id)
    assert running.status == DispatchStatus.RUNNING and running.task_arn == ARN
    item = pool_item()
    assert item and (item.status, item.worker_id, item.dispatch_id) == (
        "in_use",
        worker.worker_id,
        dispatch.dispatch_id,
    )
    assert not item.is_control_plane  # it heart-beats: shown as ours, not the control plane's
    # The fleet lists the task with the worker that follows it, not as one more slot...
    row = board_row(worker.worker_id)
    assert (row.alive, row.executor, row.slots_in_use, row.slots_total) == (True, "ecs", 1, 1)
    assert (row.tasks, row.dispatch_ids) == ((ARN,), (dispatch.dispatch_id,))
    # ...and /health/fleet counts one slot in use, while its pool counts every item, the
    # task's too, as the control plane counts the table.
    items = [i for i in pool_storage.items_for_agent("claude") if i.worker_id == worker.worker_id]
    summary = summarize(items, now=utcnow(), dead_after=fleet.dead_after())
    assert summary.slots == {"in_use": 1} and summary.by_agent["claude"].in_use == 2
    expect_describe(ecs, task("RUNNING"))
    expect_logs(cloudwatch, dispatch, ["cloning acme/widgets", "working"], after=None, then="f/1")
    run.runner.follow_round()
    assert logs(dispatch.dispatch_id) == "cloning acme/widgets\nworking\n"  # as they grow

    expect_describe(ecs, task("STOPPED", exit_code=0))
    expect_logs(cloudwatch, dispatch, ["done"], after="f/1", then="f/2")
    run.runner.follow_round()

    done = run.ended()
    assert (done.status, done.exit_code, done.task_arn) == (DispatchStatus.COMPLETED, 0, ARN)
    assert done.status_reason == f"ECS: {STOPPED_REASON}"
    assert logs(dispatch.dispatch_id) == "cloning acme/widgets\nworking\ndone\n"
    # Priced on what the task had (2 vCPU, 4 GB), as the ledger prices the plane's tasks.
    assert done.cost and (done.cost["vcpu"], done.cost["memoryMb"]) == (2048, 4096)


def test_a_nonzero_exit_code_fails_the_dispatch_and_keeps_the_stop_reason(make_tenant, stubs):
    ecs, cloudwatch = stubs
    run = started(make_tenant, ecs)
    expect_describe(ecs, task("STOPPED", exit_code=2))
    expect_logs(cloudwatch, run.dispatch, ["error: tests failed"], after=None, then="f/1")
    run.runner.follow_round()

    done = run.ended()
    assert (done.status, done.exit_code) == (DispatchStatus.FAILED, 2)
    assert done.status_reason == f"Exited with code 2. ECS: {STOPPED_REASON}"
    assert done.error_message == "error: tests failed\n"


def test_a_task_past_its_timeout_is_stopped_and_the_dispatch_times_out(make_tenant, stubs):
    ecs, cloudwatch = stubs
    shift = [timedelta(0)]
    run = started(make_tenant, ecs, timeout=30, clock=lambda: utcnow() + shift[0])
    expect_describe(ecs, task("RUNNING"))
    expect_logs(cloudwatch, run.dispatch, ["thinking"], after=None, then="f/1")
    run.runner.follow_round()
    assert storage.dispatch_get(run.dispatch.dispatch_id).status == DispatchStatus.RUNNING

    shift[0] = timedelta(seconds=31)
    expect_stop(ecs, "Timed out after 30 s.")
    expect_describe(ecs, task("STOPPED", exit_code=137, reason="Timed out after 30 s."))
    expect_logs(cloudwatch, run.dispatch, ["terminated"], after="f/1", then="f/2")
    run.runner.follow_round()

    done = run.ended()
    assert done.status == DispatchStatus.TIMEOUT
    assert done.status_reason == "Killed after 30 s. ECS: Timed out after 30 s."
    assert logs(run.dispatch.dispatch_id) == "thinking\nterminated\n"


def test_cancelling_a_dispatch_stops_its_task(make_tenant, stubs):
    ecs, cloudwatch = stubs
    run = started(make_tenant, ecs)
    expect_describe(ecs, task("RUNNING"))
    expect_logs(cloudwatch, run.dispatch, [], after=None, then="f/0")
    run.runner.follow_round()

    services.dispatch_cancel(dispatch=storage.dispatch_get(run.dispatch.dispatch_id), actor=ACTOR)
    expect_stop(ecs, "Cancelled in Outpost Admin.")
    run.runner.follow_round()  # no DescribeTasks: the cancel is final
    assert run.ended().status == DispatchStatus.CANCELLED


@pytest.mark.parametrize(
    "answers, reason",
    [
        (
            [{"tasks": [], "failures": [{"arn": "x", "reason": "RESOURCE:CAPACITY"}]}] * 3,
            "ECS could not start the task: RESOURCE:CAPACITY",
        ),
        (
            ["InvalidParameterException"],
            "ECS refused to start the task: InvalidParameterException: TaskDefinition not found.",
        ),
    ],
    ids=["no capacity after three tries", "bad configuration"],
)
def test_a_task_that_cannot_start_fails_the_dispatch_and_releases_the_slot(
    make_tenant, stubs, answers, reason
):
    ecs, _ = stubs
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    for attempt, answer in enumerate(answers, start=1):
        expected = run_task_params(dispatch, CONFIG, attempt=attempt)
        if isinstance(answer, str):
            ecs.add_client_error(
                "run_task", answer, "TaskDefinition not found.", 400, expected_params=expected
            )
        else:
            ecs.add_response("run_task", answer, expected)
    assert worker_for(tenant, executor=executor()).run(once=True) == 1

    done = storage.dispatch_get(dispatch.dispatch_id)
    assert (done.status, done.status_reason, done.task_arn) == (DispatchStatus.FAILED, reason, "")
    assert concurrent_jobs(tenant) == 0


def test_describe_tasks_asks_for_at_most_100_tasks_a_call(stubs):
    ecs, _ = stubs
    arns = [f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/outpost-test/{n:04}" for n in range(150)]
    ecs.add_response(
        "describe_tasks",
        {"tasks": [{"taskArn": a, "lastStatus": "RUNNING"} for a in arns[:100]], "failures": []},
        {"cluster": CLUSTER, "tasks": arns[:100]},
    )
    ecs.add_response(
        "describe_tasks",
        {"tasks": [], "failures": [{"arn": a, "reason": "MISSING"} for a in arns[100:]]},
        {"cluster": CLUSTER, "tasks": arns[100:]},
    )
    described, missing = executor().describe(arns)
    assert sorted(described) == arns[:100] and missing == set(arns[100:])


def test_another_worker_adopts_the_task_of_a_worker_that_died(
    settings, make_tenant, stubs, staff_client
):
    ecs, cloudwatch = stubs
    settings.OUTPOST_WORKER_HEARTBEAT_SECONDS = 3600  # nobody beats after registering...
    settings.OUTPOST_WORKER_DEAD_AFTER_SECONDS = 1  # ...so a second of silence is death
    first = started(make_tenant, ecs)
    dispatch = first.dispatch
    expect_describe(ecs, task("RUNNING"))
    expect_logs(cloudwatch, dispatch, ["step 1"], after=None, then="f/1")
    first.runner.follow_round()
    # From here on the first worker is silent: hung, or its machine gone.

    stored = storage.log_tail(dispatch.dispatch_id, chunks=1)[-1]
    resume_ms = int(stored.created_at.timestamp() * 1000)
    wait_for(lambda: not fleet.worker_is_alive(worker_id=first.worker.worker_id, now=utcnow()))
    # Recovering the dead worker from the fleet page removes its slots but not its task,
    # and does not fail the dispatch: the task runs on, for another worker to adopt.
    assert recovery.worker_recover(worker_id=first.worker.worker_id, actor=ACTOR) == []
    assert storage.dispatch_get(dispatch.dispatch_id).status == DispatchStatus.RUNNING
    row = board_row(first.worker.worker_id)
    assert (row.alive, row.recoverable, row.slots_total, row.tasks) == (False, False, 0, (ARN,))
    html = fleet_page_row(staff_client, first.worker.worker_id)
    assert ARN in html and "Recover now" not in html and "adopt" in html

    second = adopted(first)
    taken = storage.dispatch_get(dispatch.dispatch_id)
    assert (taken.status, taken.worker_id, taken.task_arn) == (
        DispatchStatus.RUNNING,
        second.worker.worker_id,
        ARN,
    )
    assert pool_item().worker_id == second.worker.worker_id
    expect_describe(ecs, task("STOPPED", exit_code=0))
    expect_logs(cloudwatch, dispatch, ["step 2"], after=None, then="f/2", startTime=resume_ms)
    second.runner.follow_round()

    done = second.ended()
    assert (done.status, done.worker_id) == (DispatchStatus.COMPLETED, second.worker.worker_id)
    assert logs(dispatch.dispatch_id) == "step 1\nstep 2\n"
    # The first worker wakes up to a stop: it lets go of the task without a call to ECS.
    first.worker.stop()
    first.worker.stop()
    first.runner.follow_round()
    first.thread.join(timeout=10)
    assert storage.dispatch_get(dispatch.dispatch_id).status == DispatchStatus.COMPLETED


def test_a_worker_that_stops_leaves_its_task_running_and_another_adopts_it(make_tenant, stubs):
    ecs, cloudwatch = stubs
    first = started(make_tenant, ecs)
    first.worker.stop()
    first.worker.stop()  # the second stop hands running work back: the task is left to run on
    first.runner.follow_round()  # no StopTask, no DescribeTasks (the Stubber has none queued)
    first.thread.join(timeout=10)
    left = storage.dispatch_get(first.dispatch.dispatch_id)
    assert (left.status, left.worker_id, left.task_arn) == (
        DispatchStatus.RUNNING,
        first.worker.worker_id,
        ARN,
    )
    assert pool_storage.slots_for_worker(first.worker.worker_id) == []
    assert pool_item().worker_id == first.worker.worker_id  # the task is still in the pool

    second = adopted(first)  # its slots gone, the first worker counts as dead at once
    assert pool_item().worker_id == second.worker.worker_id
    expect_describe(ecs, task("STOPPED", exit_code=0))
    expect_logs(cloudwatch, first.dispatch, ["done"], after=None, then="f/1")
    second.runner.follow_round()
    done = second.ended()
    assert (done.status, done.worker_id) == (DispatchStatus.COMPLETED, second.worker.worker_id)


def test_the_follower_thread_follows_on_its_own(make_tenant, stubs):
    ecs, cloudwatch = stubs
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    launched(ecs, dispatch)
    expect_describe(ecs, task("STOPPED", exit_code=0))
    expect_logs(cloudwatch, dispatch, ["all done"], after=None, then="f/1")
    runner = EcsExecutor(config=CONFIG, poll_seconds=0.05)
    assert worker_for(tenant, executor=runner).run(once=True) == 1
    done = storage.dispatch_get(dispatch.dispatch_id)
    assert (done.status, logs(dispatch.dispatch_id)) == (DispatchStatus.COMPLETED, "all done\n")


def test_ecs_is_configured_with_the_control_planes_variables(settings, monkeypatch):
    settings.OUTPOST_EXECUTOR = "ecs"
    settings.ECS_CLUSTER_ARN = ""
    settings.ENVIRONMENT, settings.AWS_ACCOUNT_ID = "prod", ACCOUNT
    settings.ECS_WORKER_SUBNET_IDS, settings.ECS_WORKER_SECURITY_GROUP = ["subnet-1"], "sg-9"
    runner = Worker(worker_id="configured").executor
    assert isinstance(runner, EcsExecutor)
    assert runner.config.cluster == f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/outpost-prod"
    assert runner.config.task_definition("grok") == (
        f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/outpost-prod-grok"
    )
    assert (runner.config.subnets, runner.config.security_groups) == (("subnet-1",), ("sg-9",))
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECS", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "http://127.0.0.1:4567")
    aws.reset_clients()
    try:
        assert aws.ecs().meta.endpoint_url == "http://127.0.0.1:4566"
        assert aws.logs().meta.endpoint_url == "http://127.0.0.1:4567"
    finally:
        aws.reset_clients()


def test_an_overdue_ecs_dispatch_is_failed_and_its_task_stopped(settings, make_tenant, stubs):
    ecs, _ = stubs
    settings.OUTPOST_EXECUTOR = "ecs"
    settings.ECS_CLUSTER_ARN = CLUSTER
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    claimed = storage.dispatch_claim(dispatch, worker_id="gone-worker", now=utcnow())
    assert claimed
    running = storage.dispatch_set_task_arn(claimed, task_arn=ARN)
    assert running and running.task_arn == ARN
    grace = settings.OUTPOST_RECOVERY_GRACE_SECONDS
    later = utcnow() + timedelta(seconds=running.timeout_seconds + grace + 60)
    ecs.add_response(
        "stop_task",
        {"task": {"taskArn": ARN, "lastStatus": "STOPPING"}},
        {"cluster": CLUSTER, "task": ARN, "reason": ANY},
    )
    report = reconcile.Report()
    reconcile.recover_orphans(report, requeue=False, now=later)

    assert report.failed == [dispatch.dispatch_id]  # and the Stubber saw exactly one StopTask
    done = storage.dispatch_get(dispatch.dispatch_id)
    assert done.status == DispatchStatus.FAILED and "timeout" in done.status_reason
    assert concurrent_jobs(tenant) == 0


# --- adoption starts from the dead workers ------------------------------------------------------


def running_on(tenant, worker_id: str, made: list[Slot], *, dead: bool = False) -> Dispatch:
    """A worker with one slot running a dispatch on an ECS task: its slot and task items name
    the dispatch. A dead one stopped heart-beating an hour ago."""
    (slot,) = pool_services.slots_register(worker_id=worker_id, count=1, agents=("claude",))
    claimed = storage.dispatch_claim(create(tenant), worker_id=worker_id, now=utcnow())
    assert claimed is not None
    arn = f"{ARN.rsplit('/', 1)[0]}/{uuid.uuid4().hex}"
    running = storage.dispatch_set_task_arn(claimed, task_arn=arn)
    assert running is not None
    task_item = pool_services.task_follow(
        agent="claude", task_arn=arn, worker_id=worker_id, dispatch_id=running.dispatch_id
    )
    items = [replace(slot, status=SlotStatus.IN_USE, dispatch_id=running.dispatch_id), task_item]
    if dead:
        items = [replace(i, heartbeat=utcnow() - timedelta(hours=1)) for i in items]
    pool_storage.slots_save(items)
    made.extend(items)
    return running


def adoption_round(worker: Worker) -> Counter:
    with counting_calls() as log:
        worker._adopt()
    return log.by_operation()


def test_an_adoption_round_reads_the_dead_workers_dispatches_only(make_tenant, monkeypatch):
    tenant, _ = make_tenant(tier=Tier.ENTERPRISE)
    made: list[Slot] = []
    adopter = worker_for(tenant, executor=executor(), adopt_seconds=0)
    adopter._slots = {
        s.task_arn: s
        for s in pool_services.slots_register(
            worker_id=adopter.worker_id, count=1, agents=("claude",)
        )
    }
    made.extend(adopter._slots.values())
    adopted: list[str] = []
    # What it adopts is recorded, not run: the round's own reads are what this test counts.
    monkeypatch.setattr(adopter, "_start", lambda _slot, d, **_: adopted.append(d.dispatch_id))
    try:
        running_on(tenant, f"live-{uuid.uuid4().hex[:8]}", made)
        first = running_on(tenant, f"dead-{uuid.uuid4().hex[:8]}", made, dead=True)
        few_live = adoption_round(adopter)
        for _ in range(4):
            running_on(tenant, f"live-{uuid.uuid4().hex[:8]}", made)
        second = running_on(tenant, f"dead-{uuid.uuid4().hex[:8]}", made, dead=True)
        more_live = adoption_round(adopter)
    finally:
        for item in made:
            pool_storage.slot_delete(item)
    assert adopted == [first.dispatch_id, second.dispatch_id]
    assert storage.dispatch_get(second.dispatch_id).worker_id == adopter.worker_id
    # A Query per agent type on the pool, one BatchGetItem for the dispatches the dead
    # workers' items name, a consistent Query per agent type to confirm the owner is dead,
    # and the conditional adopt: whatever the live workers run.
    assert few_live == Counter({"Query": 10, "BatchGetItem": 1, "UpdateItem": 1})
    assert more_live == few_live
