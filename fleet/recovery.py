"""Recovery: nothing stays RUNNING forever, and every slot taken is given back exactly once.

It runs by itself inside every worker (`Worker` calls `sweep` every few seconds), one worker
at a time under a lease item; `manage.py reconcile` runs the same steps once, in full. Every
read is a Query (or a BatchGetItem by key), never a Scan:

1. Our RUNNING dispatches (origin outpost-admin, status-index) are failed, or queued again,
   when their worker stopped heart-beating, or, whatever the heartbeat says, when they are
   past claim time + timeout + a grace period (a worker alive but unable to record an
   outcome). The control plane's dispatches are never touched. One selection (`stranded`)
   and one ending (`_recover`) serve the sweep, a worker starting again under its id, and
   staff's "Recover now" on the fleet page.
2. Slots still held (the slot markers, one Query) whose dispatch ended without giving its
   slot back, because the control plane cancelled or completed it or TTL deleted it, are
   released, and the outcome counted for the day, once.
3. The control plane's records get the derived attributes this project reads (see
   usage/backfill.py), from the tables' streams, a lease and checkpoint per shard. Every worker
   takes part in this step, whoever holds the recovery lease.
4. A page of tenants (checkpointed) has its concurrency counter compared with the slots it
   really holds and repaired when they differ.
"""

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings

from dispatches import lifecycle
from dispatches import selectors as dispatch_selectors
from dispatches.domain import Dispatch, DispatchStatus
from outpost_admin import processes
from outpost_admin.audit import Actor, audit_event
from outpost_admin.audit.storage import audit_write
from outpost_admin.dynamo import NotFound, StoreError, utcnow
from tenants import counters
from tenants import storage as tenant_storage
from tenants.domain import Tenant
from usage import backfill

from . import executors_ecs, storage
from . import selectors as fleet
from . import services as fleet_services

logger = logging.getLogger(__name__)
LEASE = "recovery"
RECOUNT_PAGE = 100
FLEET_AUDIT = "FLEET"  # the audit partition of actions on the fleet rather than one tenant


class WorkerAlive(Exception):
    """The worker heart-beats: recovering it would fail dispatches it is running."""


@dataclass
class Report:
    failed: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)  # slots given back for ended dispatches
    repaired: dict[str, tuple[int, int]] = field(default_factory=dict)  # tenant -> (was, now)
    changed_meanwhile: list[str] = field(default_factory=list)
    backfilled: int = 0  # stream records passed (handled, or needing no work)


def reconcile(*, requeue: bool = False, now: datetime | None = None) -> Report:
    """Steps 1, 2 and 4 over everything (the operator command). Following the streams is
    left to the workers, who keep the positions on the lease."""
    report = Report()
    recover_orphans(report, requeue=requeue, now=now)
    release_ended(report)
    recount_concurrency(report)
    return report


def sweep(*, holder: str, now: datetime | None = None, follow: bool = True) -> Report | None:
    """One pass: the streams (any worker, a lease per shard; not when the worker follows them
    in a thread of its own), then, by whoever holds the recovery lease, the rest (None if
    another worker holds it)."""
    now = now or utcnow()
    followed = backfill.follow_streams(holder=holder, old_lease=LEASE) if follow else None
    state = storage.lease_acquire(
        LEASE, holder=holder, now=now, seconds=settings.OUTPOST_RECOVERY_LEASE_SECONDS
    )
    if state is None:
        return None
    report = Report(backfilled=followed.handled if followed else 0)
    recover_orphans(report, requeue=False, now=now)
    release_ended(report)
    cursor = recount_concurrency(report, cursor=state.get("recount") or None, pages=1)
    # The stream positions are on the shards' own leases now (backfill.follow_streams).
    storage.lease_save(LEASE, holder=holder, state={"recount": cursor or ""})
    return report


# --- 1. RUNNING dispatches that will not finish by themselves -----------------------------


def stranded(*, now: datetime, gone: str = "") -> Iterator[tuple[Dispatch, str]]:
    """The one selection of recovery: our RUNNING dispatches that will not finish by
    themselves, each with why. With `gone`, that worker is known to be gone (it is starting
    again under its id, or staff recovered it): all of its runs. Otherwise, every run past
    claim time + timeout + grace, whatever its heartbeat says (a worker alive but unable to
    record an outcome; its ECS task is stopped), and every run of a worker that stopped
    heart-beating. Runs on ECS tasks outlive their worker: another worker adopts them."""
    grace = timedelta(seconds=settings.OUTPOST_RECOVERY_GRACE_SECONDS)
    alive: dict[str, bool] = {}
    for dispatch in dispatch_selectors.dispatch_iter_ours(DispatchStatus.RUNNING):
        worker = dispatch.worker_id or "(unknown)"
        if gone:
            if dispatch.worker_id == gone and not dispatch.task_arn:
                yield dispatch, f"Worker {gone} stopped before it finished."
            continue
        if _overdue(dispatch, now, grace):
            reason = (
                f"No outcome recorded within its timeout of {dispatch.timeout_seconds} s "
                f"and {int(grace.total_seconds())} s grace (worker {worker})."
            )
            if dispatch.task_arn:  # our ECS task: stop it, not just the record
                executors_ecs.stop_overdue(dispatch, reason)
            yield dispatch, reason
            continue
        if dispatch.task_arn:
            continue
        if dispatch.worker_id not in alive:
            alive[dispatch.worker_id] = fleet.worker_is_alive(worker_id=dispatch.worker_id, now=now)
        if not alive[dispatch.worker_id]:
            yield dispatch, f"Worker {worker} stopped heart-beating."


def recover_orphans(report: Report, *, requeue: bool, now: datetime | None = None) -> None:
    """The sweep's step 1: every stranded run, re-queued or failed."""
    for dispatch, reason in stranded(now=now or utcnow()):
        _recover(report, dispatch, reason=reason, requeue=requeue)


def recover_worker(
    worker_id: str, *, requeue: bool, actor: Actor = lifecycle.RECOVERY, why: str = ""
) -> Report:
    """Recover one worker known to be gone, without waiting for its heartbeat to go stale.

    A worker starting under an id (ids are unique among live workers) calls this for its own
    id: `make run` and a supervisor that restarts a worker give it the same id every time, so
    whatever the last run under it left RUNNING was interrupted. Staff call it for a dead
    worker from the fleet page (`worker_recover`). Anything of it still running on this host
    is stopped first; its pool slots are removed.
    """
    report = Report()
    processes.kill_where_env("OUTPOST_WORKER_ID", worker_id)
    for dispatch, reason in stranded(now=utcnow(), gone=worker_id):
        _recover(report, dispatch, reason=why or reason, requeue=requeue, actor=actor)
    fleet_services.slots_retire_worker(worker_id=worker_id)
    return report


def worker_recover(*, worker_id: str, actor: Actor) -> list[str]:
    """ "Recover now" on the fleet page: a dead worker's runs fail now, audited in their
    tenants' logs and the recovery in the fleet's. Returns the dispatches it failed.
    Raises NotFound (no such worker) or WorkerAlive."""
    slots = storage.slots_for_worker(worker_id)
    if not slots:
        raise NotFound(f"worker {worker_id}")
    now = utcnow()
    if any(s.is_alive(now=now, dead_after=fleet.dead_after()) for s in slots):
        raise WorkerAlive(f"Worker {worker_id} is alive.")
    why = f"Worker {worker_id} stopped heart-beating; recovered by {actor.name}."
    failed = recover_worker(worker_id, requeue=False, actor=actor, why=why).failed
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


def _overdue(dispatch: Dispatch, now: datetime, grace: timedelta) -> bool:
    started = dispatch.claimed_at or dispatch.started_at
    return now > started + timedelta(seconds=dispatch.timeout_seconds) + grace


def _recover(
    report: Report,
    dispatch: Dispatch,
    *,
    reason: str,
    requeue: bool,
    actor: Actor = lifecycle.RECOVERY,
) -> None:
    """The one ending of a stranded run: once nothing of it is left running on this host
    (on another host its agent died with its worker, by the parent-death signal), it is
    queued again or failed through the lifecycle, audited. A worker alive but silent gets its
    runs failed, never re-queued: it may still be running them."""
    processes.kill_where_env("DISPATCH_ID", dispatch.dispatch_id)
    if lifecycle.dispatch_recover(dispatch, reason=reason, requeue=requeue, actor=actor):
        (report.requeued if requeue else report.failed).append(dispatch.dispatch_id)


# --- 2. slots of dispatches that ended elsewhere ------------------------------------------


def release_ended(report: Report) -> None:
    """Release the slot of every held marker whose dispatch is terminal or gone."""
    held = counters.held_slots()
    dispatches = dispatch_selectors.dispatch_get_many([dispatch_id for _, dispatch_id in held])
    for tenant_id, dispatch_id in held:
        dispatch = dispatches.get(dispatch_id)
        if dispatch is not None and not dispatch.status.is_terminal:
            continue
        if lifecycle.slot_release_ended(tenant_id, dispatch_id, dispatch):
            report.released.append(dispatch_id)


# --- 4. counters that drifted -----------------------------------------------------------------


def recount_concurrency(
    report: Report, *, cursor: str | None = None, pages: int | None = None
) -> str | None:
    """Compare tenants' counters with the slots they hold, `pages` pages of tenants from
    `cursor` (all of them by default); returns where the next pass starts (None: the end).

    The counter is read before the markers are counted, and each repair is conditional on
    the counter still holding what was read, so a dispatch created or finished meanwhile
    (which moves both) makes the repair step aside instead of being overwritten.
    """
    held = Counter(tenant_id for tenant_id, _ in counters.held_slots())
    done = 0
    while pages is None or done < pages:
        page = tenant_storage.tenant_list(cursor=cursor, limit=RECOUNT_PAGE)
        # The list's index holds no counters: read the page's tenants (one BatchGetItem).
        whole = tenant_storage.tenant_get_many([t.tenant_id for t in page.items])
        for tenant in whole.values():
            if tenant.concurrent_jobs != held.get(tenant.tenant_id, 0):
                _repair(report, tenant)
        cursor, done = page.cursor, done + 1
        if not cursor:
            break
    return cursor


def _repair(report: Report, tenant: Tenant) -> None:
    # The index the page came from may lag: read the counter itself, then the markers.
    counter = tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs
    actual = len(counters.held_slots(tenant_id=tenant.tenant_id))
    if counter == actual:
        return
    if counters.set_concurrency(tenant.tenant_id, expected=counter, actual=actual):
        report.repaired[tenant.tenant_id] = (counter, actual)
    else:
        report.changed_meanwhile.append(tenant.tenant_id)


def safe_sweep(*, holder: str, follow: bool = True) -> Report | None:
    """sweep() for the worker loop: a failure is logged and tried again next time. Nothing
    may end the loop: a recovery thread that dies releases no slot and recovers nothing."""
    try:
        return sweep(holder=holder, follow=follow)
    except StoreError as exc:
        logger.warning("recovery by %s failed, will try again: %s", holder, exc)
    except Exception:
        logger.exception("recovery by %s failed unexpectedly, will try again", holder)
    return None


def step_down(*, holder: str) -> None:
    """A stopping worker hands the lease on at once instead of letting it run out."""
    try:
        storage.lease_release(LEASE, holder=holder)
    except StoreError as exc:
        logger.warning("%s could not hand the recovery lease on: %s", holder, exc)
