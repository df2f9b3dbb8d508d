"""Stripe, through the official library: the only module that imports `stripe`.

Only the workers' billing pass calls the functions that reach Stripe; the webhook view only
verifies a signature (no call). Every call has a timeout and the library's own retries
(`max_network_retries`, which also sends an idempotency key on each POST); creates carry an
idempotency key of ours too, so a pass that dies after Stripe answered and before we
recorded the answer gets the same customer or subscription back when it tries again.
"""

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import stripe
from django.conf import settings

Error = stripe.StripeError
SignatureError = stripe.SignatureVerificationError


@lru_cache(maxsize=4)
def _client(api_key: str, api_base: str, timeout: float, retries: int) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def client() -> stripe.StripeClient:
    return _client(
        settings.OUTPOST_STRIPE_API_KEY,
        settings.OUTPOST_STRIPE_API_BASE,
        settings.OUTPOST_STRIPE_TIMEOUT_SECONDS,
        settings.OUTPOST_STRIPE_MAX_RETRIES,
    )


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    item_id: str
    price_id: str
    status: str
    period_start: int | None
    period_end: int | None
    cancel_at_period_end: bool


def subscription_from(data: dict[str, Any]) -> Subscription:
    """A subscription object (from a call or an event) as we keep it. The current period is
    on its item in today's API and on the subscription itself in older versions."""
    items = (data.get("items") or {}).get("data") or [{}]
    item = items[0]
    price = item.get("price") or item.get("plan") or {}
    return Subscription(
        subscription_id=data["id"],
        item_id=item.get("id", ""),
        price_id=price.get("id", "") if isinstance(price, dict) else str(price),
        status=data.get("status", ""),
        period_start=item.get("current_period_start") or data.get("current_period_start"),
        period_end=item.get("current_period_end") or data.get("current_period_end"),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
    )


def customer_create(*, tenant_id: str, name: str, email: str) -> str:
    customer = client().v1.customers.create(
        params={"name": name, "email": email, "metadata": {"tenant_id": tenant_id}},
        options={"idempotency_key": f"outpost-customer-{tenant_id}"},
    )
    return str(customer.id)


def subscription_create(*, tenant_id: str, customer_id: str, price_id: str) -> Subscription:
    subscription = client().v1.subscriptions.create(
        params={
            "customer": customer_id,
            "items": [{"price": price_id}],
            "metadata": {"tenant_id": tenant_id},
        },
        options={"idempotency_key": f"outpost-subscription-{tenant_id}-{price_id}"},
    )
    return subscription_from(subscription.to_dict())


def subscription_change_price(*, subscription_id: str, item_id: str, price_id: str) -> Subscription:
    """Move the subscription's one item to another price (a tier change), prorated."""
    subscription = client().v1.subscriptions.update(
        subscription_id,
        params={
            "items": [{"id": item_id, "price": price_id}],
            "proration_behavior": "create_prorations",
        },
    )
    return subscription_from(subscription.to_dict())


def meter_event_send(
    *, event_name: str, customer_id: str, value: int, identifier: str, timestamp: int
) -> bool:
    """POST /v1/billing/meter_events. True when Stripe took it; False when it already holds
    an event with this identifier (it refuses a second one for at least 24 hours with a 400
    saying so): the usage was delivered before, which is what the identifier is for."""
    try:
        client().v1.billing.meter_events.create(
            params={
                "event_name": event_name,
                "payload": {"stripe_customer_id": customer_id, "value": str(value)},
                "identifier": identifier,
                "timestamp": timestamp,
            }
        )
    except stripe.InvalidRequestError as exc:
        message = str(exc.user_message or exc).lower()
        if "already exists" in message and "identifier" in message:
            return False
        raise
    return True


def event_from_webhook(payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event, if Stripe signed it with our secret within the tolerance; raises
    SignatureError (unsigned, wrong or stale) or ValueError (not an event)."""
    event = stripe.Webhook.construct_event(
        payload,
        signature,
        settings.OUTPOST_STRIPE_WEBHOOK_SECRET,
        tolerance=settings.OUTPOST_STRIPE_WEBHOOK_TOLERANCE_SECONDS,
    )
    return dict(event.to_dict())
