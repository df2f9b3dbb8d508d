"""A tenant's billing as we keep it, and the meter's state: plain values, no I/O."""

from dataclasses import dataclass
from datetime import datetime

from outpost_admin.audit import Actor

BILLING_ACTOR = Actor(name="billing")
PAYMENT_FAILED = "payment failed"
PAYMENT_RECEIVED = "payment received"


@dataclass(frozen=True)
class BillingState:
    """The tenant's billing item (`sk = BILLING`), or an empty one before there is any."""

    tenant_id: str
    customer_id: str = ""
    subscription_id: str = ""
    item_id: str = ""
    price_id: str = ""
    subscription_status: str = ""
    period_start: datetime | None = None
    period_end: datetime | None = None
    cancel_at_period_end: bool = False
    synced_at: datetime | None = None
    sync_error: str = ""
    past_due_since: datetime | None = None
    past_due_invoice: str = ""
    # The tenant's `updatedAt` right after billing suspended it: a lift reactivates it only
    # if nobody has changed it since (so it never undoes a suspension staff made).
    suspended_by_billing: datetime | None = None
    due_at: str = ""  # billing_due_at, while a suspension is to be made or lifted

    @property
    def past_due(self) -> bool:
        return self.past_due_since is not None


@dataclass(frozen=True)
class Invoice:
    invoice_id: str
    number: str
    status: str
    amount_due: int  # in the currency's smallest unit, as Stripe gives it
    amount_paid: int
    currency: str
    hosted_url: str
    created: datetime
    period_start: datetime | None = None
    period_end: datetime | None = None

    @property
    def amount_text(self) -> str:
        return f"{self.amount_due / 100:.2f} {self.currency.upper()}"


@dataclass(frozen=True)
class MeterStatus:
    """What the last billing pass saw of the meter: the fleet page shows it."""

    backlog: int = 0
    oldest_due: datetime | None = None
    sent: int = 0
    last_error: str = ""
    last_error_at: datetime | None = None
    checked_at: datetime | None = None


@dataclass(frozen=True)
class Due:
    """An item the billing pass must act on: a tenant (sync) or its billing item (settle)."""

    tenant_id: str
    sk: str
    due_at: str
