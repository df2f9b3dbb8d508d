"""Recovery after a worker died: its RUNNING dispatches, and concurrency counters that drifted.

An operator command (`manage.py reconcile`), not a request path: it pages through every
RUNNING/PENDING dispatch on the status index and every tenant.
"""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from fleet import selectors as fleet
from fleet import services as fleet_services
from outpost_admin.dynamo import utcnow
from tenants import storage as tenant_storage
from tenants.domain import Tenant

from . import services, storage
from .domain import Dispatch, DispatchStatus


@dataclass
class Report:
    failed: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    repaired: dict[str, tuple[int, int]] = field(default_factory=dict)  # tenant -> (was, now)
    changed_meanwhile: list[str] = field(default_factory=list)


def reconcile(*, requeue: bool = False) -> Report:
    report = Report()
    recover_orphans(report, requeue=requeue)
    recount_concurrency(report)
    return report


def recover_orphans(report: Report, *, requeue: bool) -> None:
    """Fail (or queue again) RUNNING dispatches whose worker stopped heart-beating."""
    alive: dict[str, bool] = {}
    for dispatch in storage.dispatch_iter_by_status(DispatchStatus.RUNNING):
        worker = dispatch.worker_id
        if worker not in alive:
            alive[worker] = fleet.worker_is_alive(worker_id=worker, now=utcnow())
        if alive[worker]:
            continue
        reason = f"Worker {worker or '(unknown)'} stopped heart-beating."
        _recover(dispatch, reason, report, requeue=requeue)


def recover_worker(worker_id: str, *, requeue: bool) -> Report:
    """Recover one worker known to be gone, without waiting for its heartbeat to go stale.

    `make run` starts its worker under the same id every time, and nothing else runs under
    that id while the launcher is starting: whatever it left RUNNING was interrupted.
    """
    report = Report()
    for dispatch in storage.dispatch_iter_by_status(DispatchStatus.RUNNING):
        if dispatch.worker_id == worker_id:
            reason = f"Worker {worker_id} stopped before it finished."
            _recover(dispatch, reason, report, requeue=requeue)
    fleet_services.slots_retire_worker(worker_id=worker_id)
    return report


def _recover(dispatch: Dispatch, reason: str, report: Report, *, requeue: bool) -> None:
    if requeue:
        if storage.dispatch_requeue(dispatch, reason=reason + " Queued again."):
            report.requeued.append(dispatch.dispatch_id)
    elif services.dispatch_finish(
        dispatch, status=DispatchStatus.FAILED, error_message=reason, status_reason=reason
    ):
        report.failed.append(dispatch.dispatch_id)


def recount_concurrency(report: Report) -> None:
    """Set each tenant's concurrentJobs to its really active dispatches.

    The counters are read before the dispatches are counted and each repair is conditional
    on the counter still holding what was read, so a dispatch created or finished meanwhile
    (which moves the counter) makes the repair step aside instead of being overwritten.
    """
    counters = {t.tenant_id: t.concurrent_jobs for t in _all_tenants()}
    active = _active_dispatches()
    by_tenant = Counter(tenant_id for _, tenant_id in active)
    for tenant_id, counter in counters.items():
        if counter == by_tenant.get(tenant_id, 0):
            continue
        actual = _confirmed_active(tenant_id, active)
        if counter == actual:
            continue
        if storage.tenant_set_concurrency(tenant_id, expected=counter, actual=actual):
            report.repaired[tenant_id] = (counter, actual)
        else:
            report.changed_meanwhile.append(tenant_id)


def _active_dispatches() -> set[tuple[str, str]]:
    """(dispatch id, tenant id) of every PENDING or RUNNING dispatch.

    Claiming (PENDING -> RUNNING) and re-queueing (back) don't move the counter, so a
    dispatch making either move while we read must still be counted once: reading PENDING,
    RUNNING, then PENDING again, as a set, sees it in one of the three.
    """
    found = set()
    for status in (DispatchStatus.PENDING, DispatchStatus.RUNNING, DispatchStatus.PENDING):
        found |= {(d.dispatch_id, d.tenant_id) for d in storage.dispatch_iter_by_status(status)}
    return found


def _confirmed_active(tenant_id: str, active: set[tuple[str, str]]) -> int:
    """Re-read the tenant's counted dispatches consistently: the index may lag a finish."""
    ids = [dispatch_id for dispatch_id, owner in active if owner == tenant_id]
    return sum(1 for dispatch_id in ids if _is_active(dispatch_id))


def _is_active(dispatch_id: str) -> bool:
    try:
        return not storage.dispatch_get(dispatch_id).status.is_terminal
    except storage.NotFound:
        return False


def _all_tenants() -> Iterator[Tenant]:
    cursor = None
    while True:
        page = tenant_storage.tenant_list(cursor=cursor, limit=100)
        yield from page.items
        if not page.cursor:
            return
        cursor = page.cursor
