"""Usage to Stripe: each ended dispatch's meter events, sent by the workers' billing pass.

A dispatch's terminal write marks it (`meter_due`, outpost_admin/billing_marks.py) when
billing is on; the pass reads the marked ones shard by shard (a Query each, no Scan), sends
one meter event per configured event name (`OUTPOST_STRIPE_METER_EVENTS`: event name ->
measure) with `identifier` = the dispatch id and `timestamp` = its end, and removes the mark
once Stripe has taken them all. A dispatch whose events fail stays marked and is tried on the
next pass; one Stripe already holds (the same identifier) counts as sent. What is left is the
backlog the fleet page shows (the meter status item, written after each pass).

The values (whole numbers, as Stripe's meters sum them):
- `cost_microdollars`: the dispatch's cost (`cost.total`, USD, priced as the control plane's
  ledger prices it, already rounded to microdollars) in millionths of a dollar. A metered
  price of 0.0001 cents per unit bills it at cost; its `transform_quantity` or unit amount
  sets any mark-up.
- `tokens`: input + output tokens counted from its output (0 when unavailable).
- `duration_seconds`: its priced run time.
- `dispatches`: 1.
"""

import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from dispatches import lifecycle
from dispatches import selectors as dispatch_selectors
from dispatches.domain import Dispatch
from outpost_admin import billing_marks
from outpost_admin.dynamo import Conflict
from tenants import storage as tenant_storage

from . import storage, stripe_api

logger = logging.getLogger(__name__)

MEASURES: dict[str, Callable[[dict[str, Any]], int]] = {
    "cost_microdollars": lambda cost: round(float(cost.get("total", 0)) * 1_000_000),
    "tokens": lambda cost: int(cost.get("tokensInput", 0)) + int(cost.get("tokensOutput", 0)),
    "duration_seconds": lambda cost: int(cost.get("durationSeconds", 0)),
    "dispatches": lambda cost: 1,
}
BATCH = 100  # dispatches read per shard and pass


@dataclass
class MeterReport:
    sent: int = 0  # dispatches whose events Stripe has now
    failed: int = 0
    waiting: int = 0  # for their tenant's Stripe customer
    backlog: int = 0
    error: str = ""


def meter_events(dispatch: Dispatch) -> list[tuple[str, int, str]]:
    """(event name, value, identifier) per configured event; zero values are not sent. The
    identifier is the dispatch id; with more than one event name configured, each event's
    is `<dispatch id>:<event name>`, since Stripe keeps one event per identifier."""
    configured = settings.OUTPOST_STRIPE_METER_EVENTS
    events = []
    for name, measure in configured.items():
        value = MEASURES[measure](dispatch.cost or {})
        identifier = (
            dispatch.dispatch_id if len(configured) == 1 else f"{dispatch.dispatch_id}:{name}"
        )
        if value > 0:
            events.append((name, value, identifier))
    return events


def meter_pass(*, now: datetime) -> MeterReport:
    report = MeterReport()
    shards = [str(n) for n in range(billing_marks.METER_SHARDS)]
    due = [d for shard in shards for d in dispatch_selectors.meter_due(shard, limit=BATCH)]
    tenants = tenant_storage.tenant_get_many(sorted({d.tenant_id for d in due}))
    left: list[Dispatch] = []
    for dispatch in due:
        tenant = tenants.get(dispatch.tenant_id)
        if tenant is not None and not tenant.stripe_customer_id:
            _enroll(dispatch.tenant_id, now)
            report.waiting += 1
            left.append(dispatch)
        elif tenant is None or _send(dispatch, tenant.stripe_customer_id, report):
            lifecycle.dispatch_metered(dispatch.dispatch_id)
            report.sent += tenant is not None
        else:
            left.append(dispatch)
    report.backlog = sum(dispatch_selectors.meter_due_count(shard) for shard in shards)
    ends = [d.ended_at for d in left if d.ended_at]
    storage.meter_status_save(
        backlog=report.backlog,
        oldest_due=min(ends) if ends else None,
        sent=report.sent,
        error=report.error,
        at=now,
    )
    return report


def _send(dispatch: Dispatch, customer_id: str, report: MeterReport) -> bool:
    timestamp = int((dispatch.ended_at or datetime.now()).timestamp())
    try:
        for name, value, identifier in meter_events(dispatch):
            stripe_api.meter_event_send(
                event_name=name,
                customer_id=customer_id,
                value=value,
                identifier=identifier,
                timestamp=timestamp,
            )
    except stripe_api.Error as exc:
        logger.warning("billing: meter events of %s not sent: %s", dispatch.dispatch_id, exc)
        report.failed += 1
        report.error = f"{dispatch.dispatch_id}: {exc}"
        return False
    return True


def _enroll(tenant_id: str, now: datetime) -> None:
    """A tenant made before billing was on (or by the control plane) has no customer yet:
    mark it, so the pass gives it one; its dispatches wait until then."""
    with suppress(Conflict):  # marked already
        tenant_storage.billing_mark_set(tenant_id, at=now)
