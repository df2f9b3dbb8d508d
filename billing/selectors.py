"""Billing's reads: what the tenant page's billing section and the fleet page show."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from outpost_admin import billing_marks

from . import storage
from .domain import BillingState, Invoice, MeterStatus

INVOICES_SHOWN = 12


@dataclass(frozen=True)
class BillingOverview:
    on: bool
    state: BillingState
    invoices: list[Invoice]

    @property
    def suspends_at(self) -> datetime | None:
        """When the tenant is suspended unless it pays (past due and not suspended yet)."""
        if self.state.past_due_since is None or self.state.suspended_by_billing is not None:
            return None
        return self.state.past_due_since + timedelta(hours=settings.OUTPOST_BILLING_GRACE_HOURS)


def billing_overview(*, tenant_id: str) -> BillingOverview:
    """The tenant's billing item and newest invoices: a GetItem and a Query (none while
    billing is off)."""
    if not billing_marks.billing_on():
        return BillingOverview(on=False, state=BillingState(tenant_id=tenant_id), invoices=[])
    return BillingOverview(
        on=True,
        state=storage.state_get(tenant_id),
        invoices=storage.invoices_recent(tenant_id, limit=INVOICES_SHOWN),
    )


def meter_status() -> MeterStatus | None:
    """The meter as the last billing pass left it (one GetItem); None while billing is off."""
    return storage.meter_status_get() if billing_marks.billing_on() else None
