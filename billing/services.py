"""Billing's writes: a tenant's customer and subscription brought in line with Stripe, and a
suspension made or lifted after a payment failed or came in. The workers' billing pass calls
these (billing/runner.py); nothing on a request path calls Stripe."""

import logging
from datetime import datetime, timedelta

from django.conf import settings

from outpost_admin.dynamo import NotFound, parse_iso
from tenants import services as tenant_services
from tenants import storage as tenant_storage
from tenants.domain import Tenant, TenantStatus

from . import storage, stripe_api
from .domain import BILLING_ACTOR, PAYMENT_FAILED, PAYMENT_RECEIVED, BillingState

logger = logging.getLogger(__name__)

RETRY_MIN, RETRY_MAX = timedelta(seconds=30), timedelta(hours=1)


def grace() -> timedelta:
    return timedelta(hours=settings.OUTPOST_BILLING_GRACE_HOURS)


def tier_price(tier: str) -> str:
    return str(settings.OUTPOST_STRIPE_TIER_PRICES.get(tier, ""))


def tenant_sync(*, tenant_id: str, due_at: str, now: datetime) -> bool:
    """Give the tenant its Stripe customer and a subscription to its tier's price (or move
    it to that price), then remove the tenant's mark. On a Stripe error the mark moves
    later (twice as long each time, 30 s to an hour) and the error is kept for the tenant
    page. False if it failed."""
    try:
        tenant = tenant_storage.tenant_get(tenant_id)
    except NotFound:
        return True  # gone: nothing to bill
    state = storage.state_get(tenant_id)
    try:
        subscription = _bring_in_line(tenant, state)
    except stripe_api.Error as exc:
        logger.warning("billing: tenant %s not synced with Stripe: %s", tenant_id, exc)
        storage.sync_failed(tenant_id, str(exc), at=now)
        tenant_storage.billing_mark_settle(
            tenant_id, seen=due_at, retry_at=now + _retry(due_at, now)
        )
        return False
    storage.synced(tenant_id, subscription, at=now)
    tenant_storage.billing_mark_settle(tenant_id, seen=due_at, retry_at=None)
    return True


def _bring_in_line(tenant: Tenant, state: BillingState) -> stripe_api.Subscription | None:
    customer = tenant.stripe_customer_id or state.customer_id
    if not customer:
        customer = stripe_api.customer_create(
            tenant_id=tenant.tenant_id, name=tenant.name, email=tenant.email
        )
    if customer != state.customer_id or customer != tenant.stripe_customer_id:
        storage.customer_record(tenant.tenant_id, customer)
    price = tier_price(str(tenant.tier))
    if not price:
        return None  # a tier without a price: a customer (for the meter), no subscription
    if not state.subscription_id or state.subscription_status in ("canceled", "incomplete_expired"):
        return stripe_api.subscription_create(
            tenant_id=tenant.tenant_id, customer_id=customer, price_id=price
        )
    if state.price_id != price:
        return stripe_api.subscription_change_price(
            subscription_id=state.subscription_id, item_id=state.item_id, price_id=price
        )
    return None


def _retry(due_at: str, now: datetime) -> timedelta:
    waited = now - (parse_iso(due_at) or now)
    return min(max(waited, RETRY_MIN), RETRY_MAX)


def billing_settle(*, tenant_id: str, due_at: str, now: datetime) -> None:
    """The billing item's due work: suspend a tenant still past due once the grace period
    has passed (reason "payment failed", audited), or lift a suspension billing made once
    it is paid. A suspension staff made, or a tenant staff changed since billing suspended
    it, is left alone."""
    state = storage.state_get(tenant_id)
    try:
        tenant = tenant_storage.tenant_get(tenant_id)
    except NotFound:
        storage.settled(tenant_id, seen=due_at)
        return
    if state.past_due and state.suspended_by_billing is None:
        if tenant.status == TenantStatus.ACTIVE:
            suspended = tenant_services.tenant_set_status(
                tenant_id=tenant_id,
                status=TenantStatus.SUSPENDED,
                actor=BILLING_ACTOR,
                reason=PAYMENT_FAILED,
            )
            storage.suspension_recorded(tenant_id, tenant_updated_at=suspended.updated_at)
        storage.settled(tenant_id, seen=due_at)
    elif not state.past_due and state.suspended_by_billing is not None:
        untouched = tenant.updated_at == state.suspended_by_billing
        if tenant.status == TenantStatus.SUSPENDED and untouched:
            tenant_services.tenant_set_status(
                tenant_id=tenant_id,
                status=TenantStatus.ACTIVE,
                actor=BILLING_ACTOR,
                reason=PAYMENT_RECEIVED,
            )
        storage.settled(tenant_id, seen=due_at, sets={"suspendedByBilling": None})
    else:
        storage.settled(tenant_id, seen=due_at)
