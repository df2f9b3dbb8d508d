"""The workers' billing pass (fleet/worker.py runs it every OUTPOST_BILLING_SECONDS while
billing is on): what is due in `billing-due-index`, then the meter. Each worker runs it; the
writes are conditional and Stripe's creates carry idempotency keys, so two workers at once
do no harm."""

import logging
from dataclasses import dataclass
from datetime import datetime

from outpost_admin import billing_marks
from outpost_admin.dynamo import utcnow
from tenants.counters import TENANT_SK

from . import meter, services, storage

logger = logging.getLogger(__name__)

DUE_BATCH = 25  # items read per shard and pass


@dataclass
class PassReport:
    synced: int = 0
    settled: int = 0
    failed: int = 0
    metered: meter.MeterReport | None = None


def billing_pass(*, now: datetime | None = None) -> PassReport:
    report = PassReport()
    if not billing_marks.billing_on():
        return report
    now = now or utcnow()
    for shard in range(billing_marks.BILLING_SHARDS):
        for due in storage.due(str(shard), now=now, limit=DUE_BATCH):
            try:
                if due.sk == TENANT_SK:
                    ok = services.tenant_sync(tenant_id=due.tenant_id, due_at=due.due_at, now=now)
                    report.synced += ok
                    report.failed += not ok
                elif due.sk == storage.BILLING_SK:
                    services.billing_settle(tenant_id=due.tenant_id, due_at=due.due_at, now=now)
                    report.settled += 1
            except Exception:  # one tenant's trouble never stops the others'
                logger.exception("billing: %s of tenant %s failed", due.sk, due.tenant_id)
                report.failed += 1
    report.metered = meter.meter_pass(now=now)
    return report
