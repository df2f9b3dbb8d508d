"""Billing's items: one function per access pattern.

In the tenants table: the tenant's billing item (`tenant_id = <tenant>, sk = BILLING`), its
invoices (`sk = INVOICE#<created>#<invoice id>`), the customer -> tenant map
(`tenant_id = STRIPE#CUSTOMER#<customer id>, sk = CUSTOMER`) and the meter's status
(`tenant_id = BILLING#METER, sk = STATUS`). In the idempotency table: one record per
Stripe event handled (`idempotency_key = stripe-event#<event id>`, gone after 30 days by
TTL), put in the transaction that applies the event, so an event is applied once however
often Stripe sends it. The tenant item's own billing attributes (`stripeCustomerId`, its
mark) are tenants.storage's; this module takes its actions.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from outpost_admin import billing_marks
from outpost_admin.dynamo import (
    Action,
    Conflict,
    TransactionConflict,
    call,
    from_item,
    iso,
    parse_iso,
    to_item,
    transact,
    values,
)
from outpost_admin.dynamo.tables import IDEMPOTENCY, TENANTS
from tenants import storage as tenant_storage

from .domain import BillingState, Due, Invoice, MeterStatus
from .stripe_api import Subscription

BILLING_SK = "BILLING"
INVOICE_SK = "INVOICE#"
EVENT_DAYS = 30


def _key(tenant_id: str) -> dict[str, Any]:
    return to_item({"tenant_id": tenant_id, "sk": BILLING_SK})


def _when(epoch: int | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


def _state_from_item(tenant_id: str, item: dict[str, Any] | None) -> BillingState:
    if not item:
        return BillingState(tenant_id=tenant_id)
    data = from_item(item)
    return BillingState(
        tenant_id=tenant_id,
        customer_id=data.get("customerId", ""),
        subscription_id=data.get("subscriptionId", ""),
        item_id=data.get("subscriptionItemId", ""),
        price_id=data.get("priceId", ""),
        subscription_status=data.get("subscriptionStatus", ""),
        period_start=parse_iso(data.get("periodStart")),
        period_end=parse_iso(data.get("periodEnd")),
        cancel_at_period_end=bool(data.get("cancelAtPeriodEnd")),
        synced_at=parse_iso(data.get("syncedAt")),
        sync_error=data.get("syncError", ""),
        past_due_since=parse_iso(data.get("pastDueSince")),
        past_due_invoice=data.get("pastDueInvoice", ""),
        suspended_by_billing=parse_iso(data.get("suspendedByBilling")),
        due_at=data.get(billing_marks.BILLING_DUE_AT, ""),
    )


def state_get(tenant_id: str) -> BillingState:
    response = call("get_item", TableName=TENANTS.name, Key=_key(tenant_id), ConsistentRead=True)
    return _state_from_item(tenant_id, response.get("Item"))


def invoices_recent(tenant_id: str, *, limit: int) -> list[Invoice]:
    """The tenant's newest invoices first: one Query."""
    response = call(
        "query",
        TableName=TENANTS.name,
        KeyConditionExpression="tenant_id = :t AND begins_with(sk, :i)",
        ExpressionAttributeValues=values({":t": tenant_id, ":i": INVOICE_SK}),
        ScanIndexForward=False,
        Limit=limit,
    )
    return [_invoice_from_item(item) for item in response.get("Items", [])]


def _invoice_from_item(item: dict[str, Any]) -> Invoice:
    data = from_item(item)
    return Invoice(
        invoice_id=data["invoiceId"],
        number=data.get("number", ""),
        status=data.get("status", ""),
        amount_due=int(data.get("amountDue", 0)),
        amount_paid=int(data.get("amountPaid", 0)),
        currency=data.get("currency", ""),
        hosted_url=data.get("hostedUrl", ""),
        created=parse_iso(data.get("created")) or datetime.min,
        period_start=parse_iso(data.get("periodStart")),
        period_end=parse_iso(data.get("periodEnd")),
    )


# --- customers and subscriptions (the billing pass) -------------------------------------


def _customer_map_key(customer_id: str) -> dict[str, Any]:
    return to_item({"tenant_id": f"STRIPE#CUSTOMER#{customer_id}", "sk": "CUSTOMER"})


def customer_record(tenant_id: str, customer_id: str) -> None:
    """The tenant's Stripe customer: on the tenant item (`stripeCustomerId`), on its billing
    item, and the map that finds the tenant from an event's customer: at once."""
    mapping = {
        "TableName": TENANTS.name,
        "Item": {**_customer_map_key(customer_id), **to_item({"tenantId": tenant_id})},
    }
    state = {
        "TableName": TENANTS.name,
        "Key": _key(tenant_id),
        "UpdateExpression": "SET customerId = :c",
        "ExpressionAttributeValues": values({":c": customer_id}),
    }
    try:
        transact(
            [
                tenant_storage.stripe_customer_action(tenant_id, customer_id),
                ("map", {"Put": mapping}),
                ("state", {"Update": state}),
            ]
        )
    except TransactionConflict as exc:
        raise Conflict(f"tenant {tenant_id} has another Stripe customer") from exc


def tenant_for_customer(customer_id: str) -> str | None:
    response = call(
        "get_item", TableName=TENANTS.name, Key=_customer_map_key(customer_id), ConsistentRead=True
    )
    return from_item(response["Item"])["tenantId"] if "Item" in response else None


def _subscription_sets(subscription: Subscription) -> dict[str, Any]:
    return {
        "subscriptionId": subscription.subscription_id,
        "subscriptionItemId": subscription.item_id,
        "priceId": subscription.price_id,
        "subscriptionStatus": subscription.status,
        "periodStart": _iso_or_none(_when(subscription.period_start)),
        "periodEnd": _iso_or_none(_when(subscription.period_end)),
        "cancelAtPeriodEnd": subscription.cancel_at_period_end,
    }


def _iso_or_none(value: datetime | None) -> str | None:
    return iso(value) if value else None


def _set_expression(sets: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, str]]:
    """SET for the present values, REMOVE for the None ones."""
    names = {f"#{k}": k for k in sets}
    present = [f"#{k} = :{k}" for k, v in sets.items() if v is not None]
    absent = [f"#{k}" for k, v in sets.items() if v is None]
    expression = ("SET " + ", ".join(present) if present else "") + (
        " REMOVE " + ", ".join(absent) if absent else ""
    )
    return expression.strip(), {f":{k}": v for k, v in sets.items() if v is not None}, names


def synced(tenant_id: str, subscription: Subscription | None, *, at: datetime) -> None:
    """The pass brought Stripe in line: what the subscription is now, and no error."""
    sets: dict[str, Any] = {"syncedAt": iso(at), "syncError": None, "syncErrorAt": None}
    if subscription is not None:
        sets |= _subscription_sets(subscription)
    expression, vals, names = _set_expression(sets)
    call(
        "update_item",
        TableName=TENANTS.name,
        Key=_key(tenant_id),
        UpdateExpression=expression,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values(vals),
    )


def sync_failed(tenant_id: str, error: str, *, at: datetime) -> None:
    call(
        "update_item",
        TableName=TENANTS.name,
        Key=_key(tenant_id),
        UpdateExpression="SET syncError = :e, syncErrorAt = :at",
        ExpressionAttributeValues=values({":e": error[:500], ":at": iso(at)}),
    )


# --- what is due ---------------------------------------------------------------------------


def due(shard: str, *, now: datetime, limit: int) -> list[Due]:
    """One shard's items with billing work due by now, the longest waiting first."""
    response = call(
        "query",
        TableName=TENANTS.name,
        IndexName=billing_marks.BILLING_DUE_INDEX,
        KeyConditionExpression="billing_due = :shard AND billing_due_at <= :now",
        ExpressionAttributeValues=values({":shard": shard, ":now": iso(now)}),
        Limit=limit,
    )
    found = [from_item(item) for item in response.get("Items", [])]
    return [Due(d["tenant_id"], d["sk"], d[billing_marks.BILLING_DUE_AT]) for d in found]


def _mark(tenant_id: str, at: datetime) -> dict[str, Any]:
    return {
        billing_marks.BILLING_DUE: billing_marks.billing_shard(tenant_id),
        billing_marks.BILLING_DUE_AT: iso(at),
    }


def settled(tenant_id: str, *, seen: str, sets: dict[str, Any] | None = None) -> bool:
    """The billing item's due work is done: write `sets` (None values removed) and remove its
    mark, if the mark is still the one the pass read (an event meanwhile moves it: the
    pass comes back). False if it moved."""
    expression, vals, names = _set_expression(
        {**(sets or {}), billing_marks.BILLING_DUE: None, billing_marks.BILLING_DUE_AT: None}
    )
    try:
        call(
            "update_item",
            TableName=TENANTS.name,
            Key=_key(tenant_id),
            UpdateExpression=expression,
            ConditionExpression="#billing_due_at = :seen",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values({**vals, ":seen": seen}),
        )
    except Conflict:
        return False
    return True


def suspension_recorded(tenant_id: str, *, tenant_updated_at: datetime) -> None:
    """Billing suspended the tenant: remember the tenant as it was left, for the lift."""
    call(
        "update_item",
        TableName=TENANTS.name,
        Key=_key(tenant_id),
        UpdateExpression="SET suspendedByBilling = :at",
        ExpressionAttributeValues=values({":at": iso(tenant_updated_at)}),
    )


# --- Stripe's events -----------------------------------------------------------------------


def _event_record(event_id: str, event_type: str, now: datetime) -> Action:
    put = {
        "TableName": IDEMPOTENCY.name,
        "Item": to_item(
            {
                "idempotency_key": f"stripe-event#{event_id}",
                "type": event_type,
                "created_at": iso(now),
                "ttl": int((now + timedelta(days=EVENT_DAYS)).timestamp()),
            }
        ),
        "ConditionExpression": "attribute_not_exists(idempotency_key)",
    }
    return "event", {"Put": put}


class Duplicate(Exception):
    """The event was handled before."""


def event_apply(event_id: str, event_type: str, actions: list[Action], *, now: datetime) -> bool:
    """Record the event and apply its actions at once. Raises Duplicate if it was recorded
    before; returns False if an action's condition failed (an older event than what we
    hold: then only the event is recorded)."""
    record = _event_record(event_id, event_type, now)
    try:
        transact([record, *actions])
    except TransactionConflict as exc:
        if exc.failed("event"):
            raise Duplicate(event_id) from exc
        try:
            transact([record])
        except TransactionConflict as again:
            raise Duplicate(event_id) from again
        return False
    return True


def invoice_put(tenant_id: str, invoice: Invoice, *, event_at: int) -> Action:
    """The invoice as an event shows it, unless we hold what a later event showed."""
    sk = f"{INVOICE_SK}{iso(invoice.created)}#{invoice.invoice_id}"
    item = {
        "tenant_id": tenant_id,
        "sk": sk,
        "invoiceId": invoice.invoice_id,
        "number": invoice.number or None,
        "status": invoice.status,
        "amountDue": invoice.amount_due,
        "amountPaid": invoice.amount_paid,
        "currency": invoice.currency,
        "hostedUrl": invoice.hosted_url or None,
        "created": iso(invoice.created),
        "periodStart": _iso_or_none(invoice.period_start),
        "periodEnd": _iso_or_none(invoice.period_end),
        "eventAt": event_at,
    }
    put = {
        "TableName": TENANTS.name,
        "Item": to_item(item),
        "ConditionExpression": "attribute_not_exists(sk) OR eventAt <= :at",
        "ExpressionAttributeValues": values({":at": event_at}),
    }
    return "invoice", {"Put": put}


def past_due_action(
    tenant_id: str, *, since: datetime, invoice_id: str, suspend_at: datetime
) -> Action:
    """A payment failed: past due since `since` (the first failure), and the pass is due to
    suspend the tenant at `suspend_at` unless a payment comes first."""
    sets = {
        "pastDueSince": iso(since),
        "pastDueInvoice": invoice_id,
        **_mark(tenant_id, suspend_at),
    }
    expression, vals, names = _set_expression(sets)
    update = {
        "TableName": TENANTS.name,
        "Key": _key(tenant_id),
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values(vals),
    }
    return "state", {"Update": update}


def paid_action(tenant_id: str, *, lift_at: datetime | None) -> Action:
    """Paid: no longer past due. With `lift_at` (billing had suspended the tenant), the pass
    is due to reactivate it; otherwise nothing is due."""
    mark: dict[str, Any] = (
        _mark(tenant_id, lift_at)
        if lift_at
        else {billing_marks.BILLING_DUE: None, billing_marks.BILLING_DUE_AT: None}
    )
    expression, vals, names = _set_expression(
        {"pastDueSince": None, "pastDueInvoice": None, **mark}
    )
    update: dict[str, Any] = {
        "TableName": TENANTS.name,
        "Key": _key(tenant_id),
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
    }
    if vals:
        update["ExpressionAttributeValues"] = values(vals)
    return "state", {"Update": update}


def subscription_action(tenant_id: str, subscription: Subscription, *, event_at: int) -> Action:
    """The subscription as an event shows it, unless we applied a later event already."""
    expression, vals, names = _set_expression(
        {**_subscription_sets(subscription), "subscriptionEventAt": event_at}
    )
    update = {
        "TableName": TENANTS.name,
        "Key": _key(tenant_id),
        "UpdateExpression": expression,
        "ConditionExpression": "attribute_not_exists(#subscriptionEventAt) "
        "OR #subscriptionEventAt <= :subscriptionEventAt",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values(vals),
    }
    return "subscription", {"Update": update}


# --- the meter's status (the fleet page) ---------------------------------------------------

METER_KEY = {"tenant_id": "BILLING#METER", "sk": "STATUS"}


def meter_status_get() -> MeterStatus:
    response = call("get_item", TableName=TENANTS.name, Key=to_item(METER_KEY))
    if "Item" not in response:
        return MeterStatus()
    data = from_item(response["Item"])
    return MeterStatus(
        backlog=int(data.get("backlog", 0)),
        oldest_due=parse_iso(data.get("oldestDue")),
        sent=int(data.get("sent", 0)),
        last_error=data.get("lastError", ""),
        last_error_at=parse_iso(data.get("lastErrorAt")),
        checked_at=parse_iso(data.get("checkedAt")),
    )


def meter_status_save(
    *, backlog: int, oldest_due: datetime | None, sent: int, error: str, at: datetime
) -> None:
    """After a meter pass: the backlog it left, what it sent (added up), its last error."""
    sets: dict[str, Any] = {
        "backlog": backlog,
        "oldestDue": _iso_or_none(oldest_due),
        "checkedAt": iso(at),
    }
    if error:
        sets |= {"lastError": error[:500], "lastErrorAt": iso(at)}
    expression, vals, names = _set_expression(sets)
    call(
        "update_item",
        TableName=TENANTS.name,
        Key=to_item(METER_KEY),
        UpdateExpression=expression + " ADD sent :sent",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values({**vals, ":sent": sent}),
    )
