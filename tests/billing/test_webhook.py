"""POST /billing/stripe/webhook: signed by Stripe with our secret, within the tolerance, or
400; each event applied once by its id. Signatures are made with stripe's own helper."""

import json
import time
import uuid

import pytest
import stripe

from billing import storage
from outpost_admin.dynamo import counting_calls

from .conftest import SECRET

URL = "/billing/stripe/webhook"


def _event(kind: str, obj: dict, *, created: int | None = None) -> dict:
    return {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": kind,
        "created": created or int(time.time()),
        "data": {"object": obj},
    }


def post(client, event: dict, *, secret: str = SECRET, timestamp: int | None = None, header=True):
    payload = json.dumps(event)
    headers = {}
    if header:
        signature = stripe.WebhookSignature.generate_signature_header(
            payload, secret, timestamp=timestamp
        )
        headers["HTTP_STRIPE_SIGNATURE"] = signature
    return client.post(URL, payload, content_type="application/json", **headers)


@pytest.fixture
def customer(billing_on, make_tenant):
    tenant, _ = make_tenant()
    customer_id = f"cus_{uuid.uuid4().hex[:14]}"
    storage.customer_record(tenant.tenant_id, customer_id)
    return tenant.tenant_id, customer_id


def _subscription(customer_id: str, status: str = "active") -> dict:
    return {
        "id": "sub_123",
        "object": "subscription",
        "customer": customer_id,
        "status": status,
        "cancel_at_period_end": False,
        "items": {
            "data": [
                {
                    "id": "si_1",
                    "price": {"id": "price_pro"},
                    "current_period_start": 1_800_000_000,
                    "current_period_end": 1_802_592_000,
                }
            ]
        },
    }


def test_a_signed_event_is_applied(client, customer):
    tenant_id, customer_id = customer
    response = post(client, _event("customer.subscription.updated", _subscription(customer_id)))
    assert response.status_code == 200
    assert response.json()["outcome"] == "applied"
    state = storage.state_get(tenant_id)
    assert (state.subscription_id, state.subscription_status, state.price_id) == (
        "sub_123",
        "active",
        "price_pro",
    )
    assert state.period_start is not None and state.period_start.year == 2027


def test_it_refuses_an_unsigned_event(client, customer):
    event = _event("customer.subscription.updated", _subscription(customer[1]))
    assert post(client, event, header=False).status_code == 400
    assert storage.state_get(customer[0]).subscription_id == ""


def test_it_refuses_an_event_signed_with_another_secret(client, customer):
    event = _event("customer.subscription.updated", _subscription(customer[1]))
    assert post(client, event, secret="whsec_someone_else").status_code == 400
    assert storage.state_get(customer[0]).subscription_id == ""


def test_it_refuses_a_stale_event(client, customer):
    event = _event("customer.subscription.updated", _subscription(customer[1]))
    stale = int(time.time()) - 301
    assert post(client, event, timestamp=stale).status_code == 400


def test_it_refuses_a_body_changed_after_signing(client, customer):
    event = _event("customer.subscription.updated", _subscription(customer[1]))
    signature = stripe.WebhookSignature.generate_signature_header(json.dumps(event), SECRET)
    event["data"]["object"]["status"] = "canceled"
    response = client.post(
        URL, json.dumps(event), content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    assert response.status_code == 400


def test_the_same_event_twice_is_applied_once(client, customer):
    tenant_id, customer_id = customer
    event = _event("invoice.payment_failed", _invoice(customer_id, "open"))
    assert post(client, event).json()["outcome"] == "applied"
    first = storage.state_get(tenant_id)
    with counting_calls() as calls:
        again = post(client, event)
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"
    assert storage.state_get(tenant_id) == first
    # the customer's map, the billing item, then the transaction its event id refuses
    assert calls.by_operation() == {"GetItem": 2, "TransactWriteItems": 1}


def test_an_older_subscription_event_changes_nothing(client, customer):
    tenant_id, customer_id = customer
    now = int(time.time())
    newer = _event(
        "customer.subscription.deleted", _subscription(customer_id, "canceled"), created=now
    )
    older = _event("customer.subscription.updated", _subscription(customer_id), created=now - 60)
    assert post(client, newer).json()["outcome"] == "applied"
    assert post(client, older).json()["outcome"] == "stale"
    assert storage.state_get(tenant_id).subscription_status == "canceled"


def test_other_events_and_unknown_customers_are_acknowledged(client, customer):
    assert post(client, _event("customer.created", {"id": "cus_x"})).json()["outcome"] == "ignored"
    unknown = _event("invoice.paid", _invoice("cus_nobody", "paid"))
    assert post(client, unknown).json()["outcome"] == "ignored"


def test_the_endpoint_is_not_there_while_billing_is_off(client, settings):
    settings.OUTPOST_STRIPE_API_KEY = ""
    assert post(client, _event("invoice.paid", {})).status_code == 404


def _invoice(customer_id: str, status: str, invoice_id: str = "in_1") -> dict:
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": customer_id,
        "number": "OUT-0001",
        "status": status,
        "amount_due": 9900,
        "amount_paid": 9900 if status == "paid" else 0,
        "currency": "usd",
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice_id}",
        "created": 1_800_000_000,
        "period_start": 1_800_000_000,
        "period_end": 1_802_592_000,
    }
