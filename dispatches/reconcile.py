"""Recovery: nothing stays RUNNING forever, and every slot taken is given back exactly once.

It runs by itself inside every worker (`Worker` calls `sweep` every few seconds), one worker
at a time under a lease item; `manage.py reconcile` runs the same steps once, in full. Every
read is a Query (or a BatchGetItem by key), never a Scan:

1. Our RUNNING dispatches (origin outpost-admin, status-index) are failed, or queued again,
   when their worker stopped heart-beating, or, whatever the heartbeat says, when they are
   past claim time + timeout + a grace period (a worker alive but unable to record an
   outcome). The control plane's dispatches are never touched.
2. Slots still held (the slot markers, one Query) whose dispatch ended without giving its
   slot back, because the control plane cancelled or completed it or TTL deleted it, are
   released, and the outcome counted for the day, once.
3. The control plane's records get the derived attributes this project reads (see
   backfill.py), from the tables' streams, a lease and checkpoint per shard. Every worker
   takes part in this step, whoever holds the recovery lease.
4. A page of tenants (checkpointed) has its concurrency counter compared with the slots it
   really holds and repaired when they differ.
"""

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings

from fleet import selectors as fleet
from fleet import services as fleet_services
from outpost_admin import processes
from outpost_admin.audit import AuditEvent
from outpost_admin.dynamo import StoreError, utcnow
from tenants import counters
from tenants import storage as tenant_storage
from tenants.domain import Tenant

from . import backfill, executors_ecs, services, storage
from .domain import Dispatch, DispatchStatus

logger = logging.getLogger(__name__)
LEASE = "recovery"
RECOUNT_PAGE = 100


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


def sweep(*, holder: str, now: datetime | None = None) -> Report | None:
    """One pass: the streams (any worker, a lease per shard), then, by whoever holds the
    recovery lease, the rest (None if another worker holds it)."""
    now = now or utcnow()
    followed = backfill.follow_streams(holder=holder, old_lease=LEASE)
    state = storage.lease_acquire(
        LEASE, holder=holder, now=now, seconds=settings.OUTPOST_RECOVERY_LEASE_SECONDS
    )
    if state is None:
        return None
    report = Report(backfilled=followed.handled)
    recover_orphans(report, requeue=False, now=now)
    release_ended(report)
    cursor = recount_concurrency(report, cursor=state.get("recount") or None, pages=1)
    # The stream positions are on the shards' own leases now (backfill.follow_streams).
    storage.lease_save(LEASE, holder=holder, state={"recount": cursor or ""})
    return report


# --- 1. RUNNING dispatches that will not finish by themselves -----------------------------


def recover_orphans(report: Report, *, requeue: bool, now: datetime | None = None) -> None:
    """Our RUNNING dispatches whose worker is gone, or that are overdue whatever it says."""
    now = now or utcnow()
    grace = timedelta(seconds=settings.OUTPOST_RECOVERY_GRACE_SECONDS)
    alive: dict[str, bool] = {}
    for dispatch in storage.dispatch_iter_ours(DispatchStatus.RUNNING):
        worker = dispatch.worker_id
        if worker not in alive:
            alive[worker] = fleet.worker_is_alive(worker_id=worker, now=now)
        if _overdue(dispatch, now, grace):
            reason = (
                f"No outcome recorded within its timeout of {dispatch.timeout_seconds} s "
                f"and {int(grace.total_seconds())} s grace (worker {worker or '(unknown)'})."
            )
            if dispatch.task_arn:  # our ECS task: stop it, not just the record
                executors_ecs.stop_overdue(dispatch, reason)
        elif dispatch.task_arn:  # an ECS task runs on: an ECS worker adopts it
            continue
        elif not alive[worker]:
            reason = f"Worker {worker or '(unknown)'} stopped heart-beating."
        else:
            continue
        _recover(report, dispatch, reason=reason, requeue=requeue)


def recover_worker(worker_id: str, *, requeue: bool) -> Report:
    """Recover one worker known to be gone, without waiting for its heartbeat to go stale.

    A worker starting under an id (ids are unique among live workers) calls this for its own
    id: `make run` and a supervisor that restarts a worker give it the same id every time, so
    whatever the last run under it left RUNNING was interrupted. Anything of it still running
    on this host is stopped first.
    """
    report = Report()
    processes.kill_where_env("OUTPOST_WORKER_ID", worker_id)
    for dispatch in storage.dispatch_iter_ours(DispatchStatus.RUNNING):
        if dispatch.worker_id == worker_id and not dispatch.task_arn:  # ECS tasks: adopted
            reason = f"Worker {worker_id} stopped before it finished."
            _recover(report, dispatch, reason=reason, requeue=requeue)
    fleet_services.slots_retire_worker(worker_id=worker_id)
    return report


def _overdue(dispatch: Dispatch, now: datetime, grace: timedelta) -> bool:
    started = dispatch.claimed_at or dispatch.started_at
    return now > started + timedelta(seconds=dispatch.timeout_seconds) + grace


def _recover(report: Report, dispatch: Dispatch, *, reason: str, requeue: bool) -> None:
    if recover_dispatch(dispatch, reason=reason, requeue=requeue):
        (report.requeued if requeue else report.failed).append(dispatch.dispatch_id)


def recover_dispatch(
    dispatch: Dispatch, *, reason: str, requeue: bool, event: AuditEvent | None = None
) -> bool:
    """The one way a RUNNING dispatch whose worker is gone is ended or queued again (the
    sweep, a worker's start, "Recover now"): once nothing of its last run is left running
    here, it is queued again or failed (with `event` audited in the same write). On another
    host its agent died with its worker, by the parent-death signal; a worker alive but
    silent gets its dispatches failed, never re-queued (see recover_orphans). False if it
    moved meanwhile."""
    processes.kill_where_env("DISPATCH_ID", dispatch.dispatch_id)
    if requeue:
        return storage.dispatch_requeue(dispatch, reason=reason + " Queued again.")
    return services.dispatch_finish(
        dispatch,
        status=DispatchStatus.FAILED,
        error_message=reason,
        status_reason=reason,
        event=event,
        run=dispatch.claimed_at,  # the run its worker left, not one claimed since
    )


# --- 2. slots of dispatches that ended elsewhere ------------------------------------------


def release_ended(report: Report) -> None:
    """Release the slot of every held marker whose dispatch is terminal or gone."""
    held = counters.held_slots()
    dispatches = storage.dispatch_get_many([dispatch_id for _, dispatch_id in held])
    for tenant_id, dispatch_id in held:
        dispatch = dispatches.get(dispatch_id)
        if dispatch is not None and not dispatch.status.is_terminal:
            continue
        if storage.slot_release_orphan(tenant_id, dispatch_id, dispatch):
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


def safe_sweep(*, holder: str) -> Report | None:
    """sweep() for the worker loop: a failure is logged and tried again next time. Nothing
    may end the loop: a recovery thread that dies releases no slot and recovers nothing."""
    try:
        return sweep(holder=holder)
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
