"""Creating, cancelling and finishing dispatches: the rules around the storage transactions."""

import hashlib
import json
import logging
import secrets
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from ulid import ULID

from outpost_admin.audit import Actor, AuditEvent, audit_event
from outpost_admin.dynamo import Action, StoreError, utcnow
from tenants import storage as tenant_storage
from tenants.domain import Limits

from . import storage
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
    "dispatch_cancel",
    "dispatch_create",
    "dispatch_finish",
    "dispatch_rerun",
]


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
    )
    metadata = {"agent": data.agent, "model": data.model_id, "repo": data.repo}
    event = audit_event(
        tenant_id=tenant_id,
        action="dispatch.create",
        resource=f"dispatch/{dispatch.dispatch_id}",
        actor=actor,
        metadata={**metadata, "rerunOf": rerun_of} if rerun_of else metadata,
    )
    try:
        storage.dispatch_create(
            dispatch,
            max_per_day=limits.max_jobs_per_day,
            event=event,
            request_hash=body_hash,
            response=render(dispatch) if data.idempotency_key else None,
            key_check=_key_check(api_key_id, now),
        )
    except Replay as replay:
        if replay.response is None:  # the control plane's record: answer with its dispatch
            named = dispatch_get(tenant_id=tenant_id, dispatch_id=replay.dispatch_id)
            raise Replay(render(named), dispatch_id=named.dispatch_id) from replay
        raise
    except QuotaExceeded as exc:
        _count_rejection(dispatch, exc.limit)
        raise
    return dispatch


def _count_rejection(dispatch: Dispatch, limit: str) -> None:
    """The refused path's one extra call; losing the count must not change the answer."""
    try:
        storage.rejection_count(dispatch, limit=limit)
    except StoreError as exc:
        logger.warning("could not count a refusal of %s: %s", dispatch.tenant_id, exc)


def _key_check(api_key_id: str, now: Any) -> Action | None:
    """The caller's key must still be valid when the create commits. The control plane's
    legacy keys live on the tenant item, whose status the slot's condition checks already."""
    if not api_key_id or api_key_id.startswith("legacy-"):
        return None
    return tenant_storage.key_still_valid(api_key_id, now=now)


def dispatch_get(*, tenant_id: str | None, dispatch_id: str) -> Dispatch:
    """A dispatch of this tenant (any tenant when None, for staff); otherwise NotFound."""
    dispatch = storage.dispatch_get(dispatch_id)
    if tenant_id is not None and dispatch.tenant_id != tenant_id:
        raise storage.NotFound(f"dispatch {dispatch_id}")
    return dispatch


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
    storage.dispatch_finish(
        dispatch, status=DispatchStatus.CANCELLED, now=now, status_reason=reason, event=event
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
) -> bool:
    """The worker's terminal write (recovery's too, with its audit `event` in the same
    write). With `run`, only the run claimed then is ended. False when the dispatch was
    already terminal (e.g. cancelled), or is in another run now."""
    try:
        storage.dispatch_finish(
            dispatch,
            status=status,
            now=utcnow(),
            exit_code=exit_code,
            error_message=error_message[:2000],
            status_reason=status_reason,
            event=event,
            run=run,
        )
    except InvalidTransition:
        return False
    return True


def dispatch_rerun(
    *,
    original: Dispatch,
    api_key_id: str,
    limits: Limits,
    idempotency_key: str,
    render: Any,
    actor: Actor,
) -> Dispatch:
    """Run a finished dispatch again: its request as a new dispatch linked to it, under the
    quotas and idempotency rules of a create. The timeout is held to the tier's cap today.
    Raises StillActive, and whatever dispatch_create raises."""
    if not original.status.is_terminal:
        raise StillActive(original.status)
    data = DispatchInput(
        agent=original.agent,
        task=original.task,
        model_id=original.model_id,
        repo=original.repo,
        branch=original.branch,
        timeout_seconds=min(original.timeout_seconds, limits.max_job_timeout_seconds),
        tags=original.tags,
        idempotency_key=idempotency_key,
    )
    return dispatch_create(
        tenant_id=original.tenant_id,
        api_key_id=api_key_id,
        limits=limits,
        data=data,
        body_hash=request_hash({"rerunOf": original.dispatch_id}),
        render=render,
        actor=actor,
        rerun_of=original.dispatch_id,
    )
