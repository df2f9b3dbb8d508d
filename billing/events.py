"""Stripe's events, applied once each: the event id is put (on condition that it is new) in
the same transaction as what the event changes."""

from datetime import UTC, datetime
from typing import Any

from outpost_admin.dynamo import Action

from . import services, storage, stripe_api
from .domain import Invoice

HANDLED = frozenset(
    {
        "invoice.paid",
        "invoice.payment_failed",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    }
)


def event_handle(event: dict[str, Any], *, now: datetime) -> str:
    """Apply a verified event. Returns what became of it: "applied", "duplicate", "stale"
    (older than what we hold; recorded, nothing changed), or "ignored" (a type we do not
    handle, or a customer that is none of our tenants')."""
    kind = str(event.get("type", ""))
    obj = (event.get("data") or {}).get("object") or {}
    if kind not in HANDLED:
        return "ignored"
    tenant_id = storage.tenant_for_customer(str(obj.get("customer", "")))
    if tenant_id is None:
        return "ignored"
    created = int(event.get("created", 0))
    if kind.startswith("invoice."):
        actions = _invoice_actions(tenant_id, kind, obj, created, now)
    else:
        subscription = stripe_api.subscription_from(obj)
        actions = [storage.subscription_action(tenant_id, subscription, event_at=created)]
    try:
        applied = storage.event_apply(str(event["id"]), kind, actions, now=now)
    except storage.Duplicate:
        return "duplicate"
    return "applied" if applied else "stale"


def _invoice_actions(
    tenant_id: str, kind: str, obj: dict[str, Any], created: int, now: datetime
) -> list[Action]:
    invoice = invoice_from(obj)
    actions = [storage.invoice_put(tenant_id, invoice, event_at=created)]
    state = storage.state_get(tenant_id)
    if kind == "invoice.payment_failed":
        since = state.past_due_since or now
        actions.append(
            storage.past_due_action(
                tenant_id,
                since=since,
                invoice_id=state.past_due_invoice or invoice.invoice_id,
                suspend_at=since + services.grace(),
            )
        )
    elif state.past_due and state.past_due_invoice in ("", invoice.invoice_id):
        lift_at = now if state.suspended_by_billing else None
        actions.append(storage.paid_action(tenant_id, lift_at=lift_at))
    return actions


def _when(epoch: Any) -> datetime | None:
    return datetime.fromtimestamp(int(epoch), UTC) if epoch else None


def invoice_from(obj: dict[str, Any]) -> Invoice:
    return Invoice(
        invoice_id=str(obj["id"]),
        number=str(obj.get("number") or ""),
        status=str(obj.get("status") or ""),
        amount_due=int(obj.get("amount_due") or 0),
        amount_paid=int(obj.get("amount_paid") or 0),
        currency=str(obj.get("currency") or ""),
        hosted_url=str(obj.get("hosted_invoice_url") or ""),
        created=_when(obj.get("created")) or datetime.fromtimestamp(0, UTC),
        period_start=_when(obj.get("period_start")),
        period_end=_when(obj.get("period_end")),
    )
