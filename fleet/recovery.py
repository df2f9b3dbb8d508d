"""Recover one dead worker now, from the fleet page: what the automatic recovery does for it.

Its RUNNING dispatches (the ones its slots name) end FAILED with the reason, through the one
recovery path (reconcile.recover_dispatch: what is left of their runs on this host is
stopped first), releasing their concurrency slots, each audited in its tenant's log; those
running as ECS tasks go on and are adopted. Its pool slots are removed, and the recovery
itself is audited in the fleet's log.
"""

from dispatches import reconcile
from dispatches import storage as dispatch_storage
from dispatches.domain import DispatchStatus
from outpost_admin.audit.domain import Actor
from outpost_admin.audit.services import audit_event
from outpost_admin.audit.storage import audit_write
from outpost_admin.dynamo import NotFound, utcnow

from . import services as pool
from . import storage
from .selectors import dead_after

FLEET_AUDIT = "FLEET"  # the audit partition of actions on the fleet rather than one tenant


class WorkerAlive(Exception):
    """The worker heart-beats: recovering it would fail dispatches it is running."""


def worker_recover(*, worker_id: str, actor: Actor) -> list[str]:
    """Returns the dispatches it failed. Raises NotFound (no such worker) or WorkerAlive."""
    slots = storage.slots_for_worker(worker_id)
    if not slots:
        raise NotFound(f"worker {worker_id}")
    now = utcnow()
    if any(s.is_alive(now=now, dead_after=dead_after()) for s in slots):
        raise WorkerAlive(f"Worker {worker_id} is alive.")
    reason = f"Worker {worker_id} stopped heart-beating; recovered by {actor.name}."
    outcomes = [_fail(s.dispatch_id, worker_id, reason, actor) for s in slots if s.dispatch_id]
    failed = [dispatch_id for dispatch_id in outcomes if dispatch_id]
    for slot in slots:
        pool.slot_retire(slot)
    audit_write(
        audit_event(
            tenant_id=FLEET_AUDIT,
            action="worker.recover",
            resource=f"worker/{worker_id}",
            actor=actor,
            metadata={"failedDispatches": failed, "slots": len(slots)},
        )
    )
    return failed


def _fail(dispatch_id: str, worker_id: str, reason: str, actor: Actor) -> str:
    try:
        dispatch = dispatch_storage.dispatch_get(dispatch_id)
    except NotFound:
        return ""
    if dispatch.status != DispatchStatus.RUNNING or dispatch.worker_id != worker_id:
        return ""  # finished, re-queued or taken over meanwhile
    if dispatch.task_arn:
        return ""  # its ECS task runs on: another ECS worker adopts it, as recovery leaves it
    event = audit_event(
        tenant_id=dispatch.tenant_id,
        action="dispatch.recover",
        resource=f"dispatch/{dispatch_id}",
        actor=actor,
        metadata={"worker": worker_id},
    )
    recovered = reconcile.recover_dispatch(dispatch, reason=reason, requeue=False, event=event)
    return dispatch_id if recovered else ""
