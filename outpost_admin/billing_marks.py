"""The marks that hand work to the workers' billing pass (billing/), and whether billing is on.

The apps below billing (tenants, dispatches) never call Stripe: when billing is on, the write
they already make also sets a mark, a sparse and write-sharded GSI key, and billing's pass in
the workers finds marked items with a Query per shard (never a Scan) and removes the mark
once Stripe has what it needs. The same pattern as the claim queue (dispatches/claim_queue.py).

- `billing_due` + `billing_due_at` (tenants table, `billing-due-index`): a tenant item whose
  Stripe customer or subscription must be brought in line (set by provisioning and a tier
  change), or a tenant's billing item with a suspension to make or lift (set by Stripe's
  events). `billing_due_at` is when: the pass reads only what is due by now, so a retry's
  back-off and a grace period are both a later `billing_due_at`.
- `meter_due` + `ended_at` (dispatches table, `meter-due-index`): an ended dispatch whose
  meter events Stripe has not accepted yet (set by the dispatch's terminal write).
"""

import zlib

from django.conf import settings

BILLING_DUE = "billing_due"
BILLING_DUE_AT = "billing_due_at"
BILLING_DUE_INDEX = "billing-due-index"
BILLING_SHARDS = 4

METER_DUE = "meter_due"
METER_DUE_INDEX = "meter-due-index"
METER_SHARDS = 8


def billing_on() -> bool:
    """Billing is on when a Stripe API key is configured (README, "Billing")."""
    return bool(settings.OUTPOST_STRIPE_API_KEY)


def billing_shard(tenant_id: str) -> str:
    return str(zlib.crc32(tenant_id.encode()) % BILLING_SHARDS)


def meter_shard(dispatch_id: str) -> str:
    return str(zlib.crc32(dispatch_id.encode()) % METER_SHARDS)
