"""The dispatch lifecycle: every change of a dispatch's state goes through here.

create -> PENDING; claim -> RUNNING (a worker); adopt (another worker takes over a dead
one's ECS task); requeue -> PENDING again (its worker stopped); finish -> SUCCESS, FAILED,
TIMEOUT; cancel -> CANCELLED; recover (a run whose worker is gone: requeue or fail). Each is
one conditional write of storage.py (private to this module and selectors.py), with what
belongs to it built in: the tenant's slot is taken by create and released by whichever
write ends the dispatch, in the same transaction; the audit record of an action taken by
someone (create, cancel) or by recovery (requeue, recover) is written in that transaction
too. A worker's own claim and outcome are on the record itself (worker, times, status) and
in its stream, which the usage roll-ups and webhooks read: they are not repeated in the
audit log, whose writes would double with every dispatch.
"""

import hashlib
import json
import logging
import secrets
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from ulid import ULID

from outpost_admin.audit import Actor, AuditEvent, audit_event
from outpost_admin.dynamo import Action, StoreError, utcnow
from tenants import budgets
from tenants import storage as tenant_storage
from tenants.domain import Limits

from . import costs, outbox, selectors, storage
from .domain import (
    ORIGIN,
    RETENTION_DAYS,
    Dispatch,
    DispatchStatus,
    InvalidTransition,
    QuotaExceeded,
    StillActive,
)
from .storage import Replay

logger = logging.getLogger(__name__)

__all__ = [
    "DispatchInput",
    "Replay",
    "RerunEdits",
    "dispatch_adopt",
    "dispatch_cancel",
    "dispatch_claim",
    "dispatch_create",
    "dispatch_finish",
    "dispatch_metered",
    "dispatch_record_task",
    "dispatch_recover",
    "dispatch_requeue",
    "dispatch_rerun",
    "log_append",
    "slot_release_ended",
]
RECOVERY = Actor(name="recovery")


class DispatchInput:
    """A validated create request (the API's serializer has checked types and ranges)."""

    def __init__(self, **fields: Any):
        self.agent: str = fields["agent"]
        self.task: str = fields["task"]
        self.model_id: str = fields["model_id"]
        self.repo: str = fields.get("repo", "")
        self.branch: str = fields.get("branch", "")
        self.timeout_seconds: int = fields["timeout_seconds"]
        self.tags: dict[str, str] = dict(fields.get("tags") or {})
        self.idempotency_key: str = fields.get("idempotency_key", "")
        self.callback_url: str = fields.get("callback_url", "")
        self.edited: tuple[str, ...] = tuple(fields.get("edited", ()))  # a rerun's changes


@dataclass(frozen=True)
class RerunEdits:
    """What a person changed before running a dispatch again (the run page's form)."""

    task: str
    model_id: str
    timeout_seconds: int
    tags: dict[str, str]

    def changed(self, original: Dispatch) -> tuple[str, ...]:
        """The names of the fields that differ from the original's."""
        pairs = {
            "task": (self.task, original.task),
            "model": (self.model_id, original.model_id),
            "timeout": (self.timeout_seconds, original.timeout_seconds),
            "tags": (self.tags, original.tags),
        }
        return tuple(name for name, (new, old) in pairs.items() if new != old)


def request_hash(body: Any) -> str:
    """A stable fingerprint of the request body, for idempotency (key order doesn't matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def new_dispatch_id() -> str:
    """A ULID whose 80 random bits all come from the CSPRNG. (python-ulid's default generator
    increments the previous value within a millisecond, which makes the next id guessable.)"""
    millis = time.time_ns() // 1_000_000
    return str(ULID.from_bytes(millis.to_bytes(6, "big") + secrets.token_bytes(10)))


def dispatch_create(
    *,
    tenant_id: str,
    api_key_id: str,
    limits: Limits,
    data: DispatchInput,
    body_hash: str,
    render: Any,
    actor: Actor,
    rerun_of: str = "",
    api_key_name: str = "",
) -> Dispatch:
    """Create a PENDING dispatch, counting it against the tenant's quotas in one transaction.

    `render(dispatch)` gives the API response that an idempotent replay will return.
    Raises QuotaExceeded, TenantNotActive, KeyNotActive, Replay, IdempotencyMismatch,
    IdempotencyInFlight.
    """
    now = utcnow()
    dispatch = Dispatch(
        dispatch_id=new_dispatch_id(),
        tenant_id=tenant_id,
        agent=data.agent,
        model_id=data.model_id,
        task=data.task,
        status=DispatchStatus.PENDING,
        started_at=now,
        repo=data.repo,
        branch=data.branch,
        timeout_seconds=data.timeout_seconds,
        api_key_id=api_key_id,
        idempotency_key=data.idempotency_key,
        tags=data.tags,
        expires_at=int((now + timedelta(days=RETENTION_DAYS)).timestamp()),
        origin=ORIGIN,
        rerun_of=rerun_of,
        callback_url=data.callback_url,
        api_key_name=api_key_name if api_key_id else "",
    )
    metadata: dict[str, Any] = {"agent": data.agent, "model": data.model_id, "repo": data.repo}
    if rerun_of:
        metadata["rerunOf"] = rerun_of
    if data.edited:
        metadata["edited"] = list(data.edited)
    event = audit_event(
        tenant_id=tenant_id,
        action="dispatch.create",
        resource=f"dispatch/{dispatch.dispatch_id}",
        actor=actor,
        metadata=metadata,
    )
    try:
        storage.dispatch_create(
            dispatch,
            max_per_day=limits.max_jobs_per_day,
            event=event,
            request_hash=body_hash,
            response=render(dispatch) if data.idempotency_key else None,
            key_check=_key_check(api_key_id, now),
            budget_key_id=_budget_key(api_key_id),
        )
    except Replay as replay:
        if replay.response is None:  # the control plane's record: answer with its dispatch
            named = selectors.dispatch_get(tenant_id=tenant_id, dispatch_id=replay.dispatch_id)
            raise Replay(render(named), dispatch_id=named.dispatch_id) from replay
        raise
    except QuotaExceeded as exc:
        _count_rejection(dispatch, exc.limit)
        raise
    return dispatch


def _count_rejection(dispatch: Dispatch, limit: str) -> None:
    """The refused path's one extra call (the usage roll-ups count it from the stream);
    losing it must not change the answer."""
    try:
        storage.refusal_record(dispatch, limit=limit)
    except StoreError as exc:
        logger.warning("could not count a refusal of %s: %s", dispatch.tenant_id, exc)


def _key_check(api_key_id: str, now: Any) -> Action | None:
    """The caller's key must still be valid when the create commits. The control plane's
    legacy keys live on the tenant item, whose status the slot's condition checks already."""
    if not api_key_id or api_key_id.startswith("legacy-"):
        return None
    return tenant_storage.key_still_valid(api_key_id, now=now)


def _budget_key(api_key_id: str) -> str:
    """The key whose budget a dispatch counts against: one issued with an id of its own."""
    return "" if not api_key_id or api_key_id.startswith("legacy-") else api_key_id


def _spend(dispatch: Dispatch, cost: dict[str, Any], now: datetime) -> list[Action]:
    """What it cost, added to this month's spend of its tenant and key in the terminal write:
    spend is recorded once, with the status that ends the dispatch."""
    micros = round(float(str(cost.get("total", 0))) * budgets.MICROS)
    return budgets.record_spend(
        dispatch.tenant_id, api_key_id=_budget_key(dispatch.api_key_id), micros=micros, now=now
    )


def dispatch_cancel(*, dispatch: Dispatch, actor: Actor) -> Dispatch:
    """PENDING or RUNNING -> CANCELLED; the worker running it stops the process.

    `dispatch` is the one the caller read (through dispatch_get, which authorized it);
    the write's condition, not this read, decides whether it is still cancellable.
    """
    if dispatch.status.is_terminal:
        raise InvalidTransition(dispatch.status)
    reason = f"cancelled by {actor.name}"
    now = utcnow()
    event = audit_event(
        tenant_id=dispatch.tenant_id,
        action="dispatch.cancel",
        resource=f"dispatch/{dispatch.dispatch_id}",
        actor=actor,
        metadata={"previousStatus": dispatch.status.value},
    )
    cost = cost_of(dispatch, ended=now, tokens=None)
    storage.dispatch_finish(
        dispatch,
        status=DispatchStatus.CANCELLED,
        now=now,
        status_reason=reason,
        event=event,
        cost=cost,
        outbox=_outbox(dispatch, DispatchStatus.CANCELLED, now),
        spend=_spend(dispatch, cost, now),
    )
    return replace(dispatch, status=DispatchStatus.CANCELLED, ended_at=now, status_reason=reason)


def dispatch_finish(
    dispatch: Dispatch,
    *,
    status: DispatchStatus,
    exit_code: int | None = None,
    error_message: str = "",
    status_reason: str = "",
    event: AuditEvent | None = None,
    run: datetime | None = None,
    tokens: costs.Tokens | None = None,
    resources: tuple[int, int] | None = None,
) -> bool:
    """The worker's terminal write (recovery's too, with its audit `event` in the same
    write), with what the dispatch cost (`tokens`: counted from its output by the worker).
    With `run`, only the run claimed then is ended. False when the dispatch was already
    terminal (e.g. cancelled), or is in another run now."""
    now = utcnow()
    cost = cost_of(dispatch, ended=now, tokens=tokens, resources=resources)
    try:
        storage.dispatch_finish(
            dispatch,
            status=status,
            now=now,
            exit_code=exit_code,
            error_message=error_message[:2000],
            status_reason=status_reason,
            event=event,
            run=run,
            cost=cost,
            outbox=_outbox(dispatch, status, now),
            spend=_spend(dispatch, cost, now),
        )
    except InvalidTransition:
        return False
    return True


def dispatch_metered(dispatch_id: str) -> bool:
    """Stripe accepted the dispatch's meter events: its meter mark goes (billing's pass).
    False if it was gone already."""
    return storage.meter_done(dispatch_id)


def cost_of(
    dispatch: Dispatch,
    *,
    ended: datetime,
    tokens: costs.Tokens | None,
    resources: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """What it cost, as the control plane's ledger prices it (dispatches/costs.py): from its
    creation to its end, on the resources the run had (an ECS task's own cpu and memory;
    otherwise the configured ones), with the tokens its output shows (none known:
    "unavailable", e.g. a cancel, which reads no output on the request path)."""
    vcpu_units, memory_mb = resources or (
        settings.OUTPOST_COST_VCPU_UNITS,
        settings.OUTPOST_COST_MEMORY_MB,
    )
    cost = costs.price(
        agent=dispatch.agent if dispatch.agent in costs.TOKEN_RATES else "claude",
        model_id=dispatch.model_id,
        duration=costs.duration_seconds(dispatch.started_at, ended),
        tokens=tokens or costs.Tokens(0, 0, 0, "unavailable"),
        vcpu_units=vcpu_units,
        memory_mb=memory_mb,
    )
    return cost.as_item()


def dispatch_rerun(
    *,
    original: Dispatch,
    api_key_id: str,
    limits: Limits,
    idempotency_key: str,
    render: Any,
    actor: Actor,
    api_key_name: str = "",
    edits: RerunEdits | None = None,
) -> Dispatch:
    """Run a finished dispatch again: its request as a new dispatch linked to it, under the
    quotas and idempotency rules of a create, with the `edits` a person made (task, model,
    timeout, tags; the caller has checked them against the tier). Unedited, the timeout is
    held to the tier's cap today. Raises StillActive, and whatever dispatch_create raises."""
    if not original.status.is_terminal:
        raise StillActive(original.status)
    body: dict[str, Any] = {"rerunOf": original.dispatch_id}
    if edits is not None:  # the same idempotency key with other edits is a mismatch
        body["edits"] = asdict(edits)
    data = DispatchInput(
        agent=original.agent,
        task=edits.task if edits else original.task,
        model_id=edits.model_id if edits else original.model_id,
        repo=original.repo,
        branch=original.branch,
        timeout_seconds=edits.timeout_seconds
        if edits
        else min(original.timeout_seconds, limits.max_job_timeout_seconds),
        tags=edits.tags if edits else original.tags,
        idempotency_key=idempotency_key,
        callback_url=original.callback_url,
        edited=edits.changed(original) if edits else (),
    )
    return dispatch_create(
        tenant_id=original.tenant_id,
        api_key_id=api_key_id,
        limits=limits,
        data=data,
        body_hash=request_hash(body),
        render=render,
        actor=actor,
        rerun_of=original.dispatch_id,
        api_key_name=api_key_name,
    )


# --- the runner's moves: workers, executors and recovery (the fleet app) ---------------


def dispatch_claim(dispatch: Dispatch, *, worker_id: str) -> Dispatch | None:
    """PENDING -> RUNNING for this worker; the whole dispatch, or None if another won. The
    `dispatch.started` event rides on the same single write (dispatches/outbox.py)."""
    now = utcnow()
    hook = outbox.started_marker(dispatch.tenant_id, now)
    return storage.dispatch_claim(dispatch, worker_id=worker_id, now=now, hook=hook)


def dispatch_record_task(dispatch: Dispatch, *, task_arn: str) -> Dispatch | None:
    """Name the ECS task running it; None if it is no longer this worker's RUNNING one."""
    return storage.dispatch_set_task_arn(dispatch, task_arn=task_arn)


def dispatch_adopt(dispatch: Dispatch, *, worker_id: str) -> Dispatch | None:
    """Take over the ECS task of a dead worker's dispatch; None if another was quicker."""
    return storage.dispatch_adopt(dispatch, worker_id=worker_id)


def dispatch_requeue(dispatch: Dispatch, *, reason: str, actor: Actor = RECOVERY) -> bool:
    """RUNNING -> PENDING: its run was cut short (the worker stopped). The slot stays taken,
    the interruption is counted, and the requeue audited. False if it moved meanwhile."""
    event = _event(dispatch, "dispatch.requeue", actor, {"worker": dispatch.worker_id})
    return storage.dispatch_requeue(dispatch, reason=reason, event=event)


def dispatch_recover(
    dispatch: Dispatch, *, reason: str, requeue: bool, actor: Actor = RECOVERY
) -> bool:
    """End the run of a dispatch whose worker is gone: queued again, or failed with the
    reason. Only the run its worker left is touched (one claimed since is another run).
    Audited either way. False if it moved meanwhile. (The fleet's recovery stops what is
    left of the run on its host first.)"""
    if requeue:
        return dispatch_requeue(dispatch, reason=reason + " Queued again.", actor=actor)
    return dispatch_finish(
        dispatch,
        status=DispatchStatus.FAILED,
        error_message=reason,
        status_reason=reason,
        event=_event(dispatch, "dispatch.recover", actor, {"worker": dispatch.worker_id}),
        run=dispatch.claimed_at,
    )


def slot_release_ended(tenant_id: str, dispatch_id: str, dispatch: Dispatch | None) -> bool:
    """Give back the slot of a dispatch that ended elsewhere (the control plane, TTL)
    without releasing it. False if it was released already."""
    return storage.slot_release_orphan(tenant_id, dispatch_id, dispatch)


def log_append(
    dispatch: Dispatch, *, seq: int, text: str, line_times: list[int] | None = None
) -> None:
    """A chunk of the running agent's output, with when each of its lines began."""
    storage.log_append(dispatch, seq=seq, text=text, now=utcnow(), line_times=line_times)


def _outbox(dispatch: Dispatch, status: DispatchStatus, now: datetime) -> Action:
    """The terminal write's webhook event (the outbox), in that write's own transaction."""
    return outbox.event_put(
        tenant_id=dispatch.tenant_id, dispatch_id=dispatch.dispatch_id, status=status, now=now
    )


def _event(dispatch: Dispatch, action: str, actor: Actor, metadata: dict[str, Any]) -> AuditEvent:
    return audit_event(
        tenant_id=dispatch.tenant_id,
        action=action,
        resource=f"dispatch/{dispatch.dispatch_id}",
        actor=actor,
        metadata=metadata,
    )
