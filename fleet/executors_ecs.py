"""The ECS executor: each dispatch runs as a Fargate task, launched the way the control plane does.

The contract is the control plane's (services/task-launcher.ts, task-selector.ts,
status-tracker.ts): task definition family `outpost-<ENVIRONMENT>-<agent>`, a container named
after the agent whose environment carries DISPATCH_ID, AGENT_TYPE, MODEL_ID, TASK, ...;
cpu/memory by the model's tier; awsvpc networking in the worker subnets without a public IP;
logs in the group `/outpost/agents/<agent>`, stream `<dispatch id>`.

A dispatch thread launches its task (RunTask) and records the ARN; from then on one follower
thread per worker does the rest for every task at once: one DescribeTasks per 100 tasks per
round, the new log events of each task, StopTask on cancel or timeout. A worker that stops
leaves its tasks running (they are DETACHED); another worker adopts them (`adopt`).
"""

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings

from dispatches import lifecycle, selectors
from dispatches.domain import AGENTS, Dispatch
from outpost_admin.dynamo import StoreError, aws, utcnow
from outpost_admin.dynamo.aws import AwsError

from . import services as pool
from .domain import Slot
from .executors import Check, LogWriter, Outcome, StopReason

logger = logging.getLogger(__name__)

DESCRIBE_BATCH = 100  # DescribeTasks takes at most 100 tasks a call
LAUNCH_ATTEMPTS = 3
STOP_GRACE = timedelta(minutes=2)  # after StopTask, how long to wait for STOPPED
CAPACITY_MARKERS = ("RESOURCE:CAPACITY", "RESOURCE:MEMORY", "RESOURCE:CPU", "apacity")
ORIGIN = "outpost-admin"

# cpu units / MiB by model tier, as the control plane sizes its tasks. The default (first)
# model of an agent is its flagship; these are the others.
TIER_RESOURCES = {"flagship": (2048, 4096), "balanced": (1024, 2048), "fast": (512, 1024)}
MODEL_TIERS = {
    "claude-sonnet-4-5-20250929": "balanced",
    "claude-haiku-4-5-20251001": "fast",
    "gpt-5.1-codex": "balanced",
    "gpt-5.1-codex-mini": "fast",
    "deepseek/deepseek-chat": "balanced",
    "grok-4-1-fast-non-reasoning": "fast",
}


class LaunchFailed(Exception):
    pass


@dataclass(frozen=True)
class EcsConfig:
    cluster: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    environment: str
    account_id: str
    region: str
    capacity_provider: str = ""
    output_bucket: str = "outpost-outputs"

    @classmethod
    def from_settings(cls) -> "EcsConfig":
        env, account, region = (
            settings.ENVIRONMENT,
            settings.AWS_ACCOUNT_ID,
            settings.DYNAMODB_REGION,
        )
        default_cluster = (
            f"arn:aws:ecs:{region}:{account}:cluster/outpost-{env}" if account else f"outpost-{env}"
        )
        group = settings.ECS_WORKER_SECURITY_GROUP
        return cls(
            cluster=settings.ECS_CLUSTER_ARN or default_cluster,
            subnets=tuple(settings.ECS_WORKER_SUBNET_IDS),
            security_groups=(group,) if group else (),
            environment=env,
            account_id=account,
            region=region,
            capacity_provider=settings.ECS_CAPACITY_PROVIDER,
            output_bucket=settings.S3_OUTPUT_BUCKET,
        )

    def task_definition(self, agent: str) -> str:
        """The family (its latest ACTIVE revision), as an ARN when the account is known."""
        family = f"outpost-{self.environment}-{agent}"
        if self.account_id:
            return f"arn:aws:ecs:{self.region}:{self.account_id}:task-definition/{family}"
        return family


def log_group(agent: str) -> str:
    return f"/outpost/agents/{agent}"


def run_task_params(dispatch: Dispatch, config: EcsConfig, *, attempt: int = 1) -> dict:
    """RunTask's parameters; each retry after a capacity failure starts at another subnet."""
    tier = "flagship" if dispatch.model_id == AGENTS[dispatch.agent].default_model else None
    cpu, memory = TIER_RESOURCES[tier or MODEL_TIERS.get(dispatch.model_id, "flagship")]
    turn = (attempt - 1) % max(len(config.subnets), 1)
    params: dict = {
        "cluster": config.cluster,
        "taskDefinition": config.task_definition(dispatch.agent),
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": [*config.subnets[turn:], *config.subnets[:turn]],
                "securityGroups": list(config.security_groups),
                "assignPublicIp": "DISABLED",
            }
        },
        "overrides": {
            "containerOverrides": [
                {
                    "name": dispatch.agent,
                    "environment": _environment(dispatch, config),
                    "cpu": cpu,
                    "memory": memory,
                }
            ],
            "cpu": str(cpu),
            "memory": str(memory),
        },
        "tags": [
            {"key": "dispatchId", "value": dispatch.dispatch_id},
            {"key": "agent", "value": dispatch.agent},
            {"key": "userId", "value": dispatch.tenant_id},
            {"key": "environment", "value": config.environment},
            {"key": "origin", "value": ORIGIN},
        ],
        "enableExecuteCommand": config.environment != "prod",
        "propagateTags": "TASK_DEFINITION",
        "startedBy": ORIGIN,
        # A retried RunTask (timeout, worker restart) returns the task already started.
        "clientToken": dispatch.dispatch_id,
    }
    if config.capacity_provider:
        params["capacityProviderStrategy"] = [
            {"capacityProvider": config.capacity_provider, "weight": 1}
        ]
    else:
        params["launchType"] = "FARGATE"
    return params


def _environment(dispatch: Dispatch, config: EcsConfig) -> list[dict[str, str]]:
    values = {
        "DISPATCH_ID": dispatch.dispatch_id,
        "AGENT_TYPE": dispatch.agent,
        "MODEL_ID": dispatch.model_id,
        "TASK": dispatch.task,
        "WORKSPACE_MODE": "ephemeral",
        "WORKSPACE_INIT_MODE": "full",
        "TIMEOUT_SECONDS": str(dispatch.timeout_seconds),
        "OUTPUT_BUCKET": config.output_bucket,
        "USER_ID": dispatch.tenant_id,
        "AWS_REGION": config.region,
    }
    if dispatch.repo:
        values["REPO_URL"] = f"https://github.com/{dispatch.repo}"
    values["OUTPOST_ENV"] = config.environment
    return [{"name": name, "value": value} for name, value in values.items()]


def _is_capacity(reason: str) -> bool:
    return any(marker in reason for marker in CAPACITY_MARKERS)


# --- one followed task ------------------------------------------------------------------


@dataclass(eq=False)
class Followed:
    dispatch: Dispatch
    check: Check
    deadline: datetime
    log: LogWriter
    log_token: str | None = None
    log_start_ms: int | None = None  # an adopted task: resume its logs from here
    item: Slot | None = None  # its pool item
    stopping_since: datetime | None = None  # StopTask sent because the deadline passed
    outcome: Outcome | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def arn(self) -> str:
        return self.dispatch.task_arn

    def resolve(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.done.set()


def _container_exit(task: dict, agent: str) -> tuple[int | None, str]:
    """The agent container's exit code and reason (by name, as the control plane picks it)."""
    containers = task.get("containers") or [{}]
    by_name = {c.get("name"): c for c in containers}
    container = by_name.get(agent) or by_name.get("agent") or containers[0]
    return container.get("exitCode"), container.get("reason", "")


def outcome_of(task: dict, followed: Followed) -> Outcome:
    """How a STOPPED task ended; its stop reason is kept whatever the verdict."""
    exit_code, container_reason = _container_exit(task, followed.dispatch.agent)
    reason = task.get("stoppedReason") or container_reason or task.get("stopCode", "")
    tail, tokens = followed.log.tail, followed.log.meter.tokens(followed.dispatch.agent)
    size = task_size(task)  # with the tokens, what the ledger prices it on
    if followed.stopping_since is not None:
        return Outcome(
            timed_out=True, stop_reason=reason, output_tail=tail, tokens=tokens, resources=size
        )
    if exit_code is None:
        return Outcome(
            error=f"The ECS task stopped without an exit code: {reason}",
            stop_reason=reason,
            tokens=tokens,
            resources=size,
        )
    return Outcome(
        exit_code=exit_code, stop_reason=reason, output_tail=tail, tokens=tokens, resources=size
    )


def task_size(task: dict) -> tuple[int, int] | None:
    """The task's cpu units and MiB as ECS describes them (strings), if it says."""
    try:
        return int(task["cpu"]), int(task["memory"])
    except (KeyError, TypeError, ValueError):
        return None


# --- the executor -------------------------------------------------------------------------


class EcsExecutor:
    """Launch in the dispatch's thread, follow in one thread for all tasks (see the module doc).

    With follow_in_background=False nothing follows on its own: call `follow_round()`
    (tests do, to decide exactly when each DescribeTasks happens).
    """

    def __init__(
        self,
        *,
        config: EcsConfig | None = None,
        poll_seconds: float | None = None,
        retry_seconds: float = 2.0,
        follow_in_background: bool = True,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.config = config or EcsConfig.from_settings()
        self.poll_seconds = poll_seconds or settings.OUTPOST_ECS_POLL_SECONDS
        self.retry_seconds = retry_seconds
        self.clock = clock
        self._background = follow_in_background
        self._followed: list[Followed] = []
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._last_beat = time.monotonic()

    # --- the Executor interface (run) and adoption ---------------------------------------

    def run(self, dispatch: Dispatch, *, check: Check) -> Outcome:
        try:
            task_arn = self.launch(dispatch)
        except LaunchFailed as exc:
            return Outcome(error=str(exc))
        try:
            recorded = lifecycle.dispatch_record_task(dispatch, task_arn=task_arn)
        except StoreError as exc:  # nobody could find the task again: don't leave it running
            self._stop_task(task_arn, "Outpost Admin could not record the task.")
            return Outcome(error=f"Could not record the ECS task {task_arn}: {exc}")
        if recorded is None:  # cancelled (or taken from us) while the task was starting
            self._stop_task(task_arn, "The dispatch ended before its task started.")
            return Outcome(stopped=StopReason.CANCELLED)
        return self._follow(recorded, check)

    def adopt(self, dispatch: Dispatch, *, check: Check) -> Outcome:
        """Follow the task a dead worker launched, from where its logs were stored up to."""
        last = selectors.log_tail(dispatch_id=dispatch.dispatch_id, chunks=1)
        start = int(last[-1].created_at.timestamp() * 1000) if last else None
        return self._follow(dispatch, check, log_start_ms=start)

    def launch(self, dispatch: Dispatch) -> str:
        """RunTask, retried on capacity failures; LaunchFailed says why it could not start."""
        for attempt in range(1, LAUNCH_ATTEMPTS + 1):
            params = run_task_params(dispatch, self.config, attempt=attempt)
            try:
                response = aws.call(aws.ecs(), "run_task", **params)
            except AwsError as exc:
                reason = f"ECS refused to start the task: {exc}"
            else:
                if tasks := response.get("tasks"):
                    return str(tasks[0]["taskArn"])
                failures = response.get("failures") or [{"reason": "no task and no failure"}]
                failure = failures[0]
                detail = f" ({failure['detail']})" if failure.get("detail") else ""
                reason = f"ECS could not start the task: {failure.get('reason')}{detail}"
            if not _is_capacity(reason) or attempt == LAUNCH_ATTEMPTS:
                raise LaunchFailed(reason)
            logger.warning("dispatch %s: %s; trying again", dispatch.dispatch_id, reason)
            time.sleep(self.retry_seconds * attempt)
        raise AssertionError("unreachable")

    def _follow(self, dispatch: Dispatch, check: Check, log_start_ms: int | None = None) -> Outcome:
        followed = Followed(
            dispatch=dispatch,
            check=check,
            deadline=(dispatch.claimed_at or self.clock())
            + timedelta(seconds=dispatch.timeout_seconds),
            log=LogWriter(
                dispatch, max_bytes=settings.OUTPOST_LOG_MAX_BYTES, chunk_bytes=8192, every=0
            ),
            log_start_ms=log_start_ms,
            item=self._pool_item(dispatch),
        )
        with self._lock:
            self._followed.append(followed)
            self._lock.notify_all()
            if self._background and self._thread is None:
                self._thread = threading.Thread(target=self._follow_forever, daemon=True)
                self._thread.start()
        followed.done.wait()
        assert followed.outcome is not None
        if followed.item and followed.outcome.stopped not in (
            StopReason.DETACHED,
            StopReason.LOST,
        ):
            self._pool_item_done(followed.item)
        return followed.outcome

    @property
    def following(self) -> list[str]:
        """The ARNs of the tasks being followed."""
        with self._lock:
            return [f.arn for f in self._followed if not f.done.is_set()]

    # --- following: one round for every task ------------------------------------------------

    def _follow_forever(self) -> None:
        while True:
            with self._lock:
                while not self._followed:
                    self._lock.wait()
            try:
                self.follow_round()
            except Exception:
                logger.exception("ECS follower: a round failed")
            time.sleep(self.poll_seconds)

    def follow_round(self) -> None:
        """Check each task (cancel, shutdown, deadline), describe them all, pull their logs."""
        with self._lock:
            followed = list(self._followed)
        watching = [f for f in followed if self._checked(f)]
        try:
            described, missing = self.describe([f.arn for f in watching])
        except AwsError as exc:
            logger.warning("ECS follower: DescribeTasks failed, trying again later: %s", exc)
            described, missing = {}, set()
        for f in watching:
            if f.arn in described or f.arn in missing:
                self._pull_logs(f)
                self._settle(f, described.get(f.arn))
        self._beat(watching)
        with self._lock:
            self._followed = [f for f in self._followed if not f.done.is_set()]

    def _checked(self, f: Followed) -> bool:
        """True while the task is still to be watched; False once it is resolved here."""
        if f.stopping_since is not None:
            return True
        reason = f.check()
        if reason == StopReason.CANCELLED:
            self._stop_task(f.arn, "Cancelled in Outpost Admin.")
            f.resolve(Outcome(stopped=StopReason.CANCELLED))
        elif reason == StopReason.LOST:
            f.resolve(Outcome(stopped=StopReason.LOST))
        elif reason == StopReason.SHUTDOWN:
            f.resolve(Outcome(stopped=StopReason.DETACHED))  # the task runs on; it is adopted
        elif self.clock() >= f.deadline:
            self._stop_task(f.arn, f"Timed out after {f.dispatch.timeout_seconds} s.")
            f.stopping_since = self.clock()
        return not f.done.is_set()

    def _settle(self, f: Followed, task: dict | None) -> None:
        if task is None:
            f.log.flush(final=True)
            f.resolve(
                Outcome(error="ECS no longer knows the task (MISSING).", output_tail=f.log.tail)
            )
        elif task.get("lastStatus") == "STOPPED":
            f.log.flush(final=True)
            f.resolve(outcome_of(task, f))
        elif f.stopping_since is not None and self.clock() - f.stopping_since > STOP_GRACE:
            f.resolve(Outcome(timed_out=True, stop_reason="It did not stop after StopTask."))

    def describe(self, arns: list[str]) -> tuple[dict[str, dict], set[str]]:
        """The tasks ECS knows, by ARN, and those it calls MISSING: one call per 100 tasks."""
        described: dict[str, dict] = {}
        missing: set[str] = set()
        for batch in _batches(arns, DESCRIBE_BATCH):
            response = aws.call(
                aws.ecs(), "describe_tasks", cluster=self.config.cluster, tasks=batch
            )
            described.update({t["taskArn"]: t for t in response.get("tasks", [])})
            missing |= {
                f["arn"] for f in response.get("failures", []) if f.get("reason") == "MISSING"
            }
        return described, missing

    def _pull_logs(self, f: Followed) -> None:
        """Append the task's new log events; GetLogEvents says "no more" by repeating the token."""
        while True:
            params: dict = {
                "logGroupName": log_group(f.dispatch.agent),
                "logStreamName": f.dispatch.dispatch_id,
                "startFromHead": True,
            }
            if f.log_token:
                params["nextToken"] = f.log_token
            elif f.log_start_ms is not None:
                params["startTime"] = f.log_start_ms
            try:
                page = aws.call(aws.logs(), "get_log_events", **params)
            except AwsError as exc:
                if exc.code != "ResourceNotFoundException":  # no stream yet: nothing logged
                    logger.warning("dispatch %s: logs: %s", f.dispatch.dispatch_id, exc)
                break
            for event in page.get("events", []):
                line = (event.get("message", "").rstrip("\n") + "\n").encode()
                f.log.buffer.feed(line, at_ms=event.get("timestamp"))
            token = page.get("nextForwardToken")
            if not token or token == f.log_token:
                break
            f.log_token = token
        f.log.flush()

    def _stop_task(self, task_arn: str, reason: str) -> None:
        try:
            aws.call(
                aws.ecs(), "stop_task", cluster=self.config.cluster, task=task_arn, reason=reason
            )
        except AwsError as exc:
            logger.warning("could not stop %s: %s", task_arn, exc)

    # --- the tasks' pool items ---------------------------------------------------------------

    def _pool_item(self, dispatch: Dispatch) -> Slot | None:
        try:
            return pool.task_follow(
                agent=dispatch.agent,
                task_arn=dispatch.task_arn,
                worker_id=dispatch.worker_id,
                dispatch_id=dispatch.dispatch_id,
            )
        except StoreError as exc:  # the item is for operators; following goes on
            logger.warning("dispatch %s: no pool item: %s", dispatch.dispatch_id, exc)
            return None

    def _pool_item_done(self, item: Slot) -> None:
        try:
            pool.slot_retire(item)
        except StoreError as exc:
            logger.warning("could not remove the pool item of %s: %s", item.task_arn, exc)

    def _beat(self, watching: list[Followed]) -> None:
        """Keep the followed tasks' pool items fresh, at the workers' heartbeat pace."""
        if time.monotonic() - self._last_beat < settings.OUTPOST_WORKER_HEARTBEAT_SECONDS:
            return
        self._last_beat = time.monotonic()
        for f in watching:
            if f.item and not f.done.is_set():
                try:
                    f.item = pool.slots_heartbeat([f.item])[0]
                except StoreError as exc:
                    logger.warning("could not refresh the pool item of %s: %s", f.arn, exc)


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def stop_overdue(dispatch: Dispatch, reason: str) -> bool:
    """StopTask for an ECS dispatch recovery gave up on (overdue); never raises.

    Only when this process runs the ECS executor (otherwise it has no ECS settings); a
    following worker would stop it on its next check too, but a dead worker's task has none.
    """
    if settings.OUTPOST_EXECUTOR != "ecs" or not dispatch.task_arn:
        return False
    try:
        aws.call(
            aws.ecs(),
            "stop_task",
            cluster=EcsConfig.from_settings().cluster,
            task=dispatch.task_arn,
            reason=reason[:255],
        )
    except AwsError as exc:
        logger.warning("could not stop overdue %s: %s", dispatch.task_arn, exc)
        return False
    return True
