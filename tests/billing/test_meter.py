"""Meter events: a dispatch's terminal write marks it (no call more), the workers' pass sends
one event per dispatch in Stripe's form to a local recorder standing in for Stripe's meter
endpoint, with retries, and Stripe's refusal of an identifier it holds counts as sent."""

from datetime import timedelta

import pytest

from billing import runner
from billing import storage as billing_storage
from dispatches import lifecycle
from dispatches import storage as dispatch_storage
from dispatches.costs import Tokens
from dispatches.domain import DispatchStatus
from outpost_admin.dynamo import call, counting_calls, utcnow, values
from outpost_admin.dynamo.tables import DISPATCHES
from tenants.domain import Tier

from ..dispatches.workers import create
from .conftest import API_KEY, customer_with_card, give_customer


@pytest.fixture
def customer_tenant(meter_recorder, billing_on, make_tenant):
    tenant, _ = make_tenant(tier=Tier.FREE)
    customer = customer_with_card(billing_on, email=tenant.email)
    give_customer(tenant.tenant_id, customer)
    runner.billing_pass()  # its billing item and customer map
    return tenant, customer


TOKENS = Tokens(1000, 500, 1500, "parsed")


def finished(tenant, tokens=TOKENS):
    dispatch = create(tenant)
    claimed = lifecycle.dispatch_claim(dispatch, worker_id="meter-test")
    assert claimed is not None
    with counting_calls() as calls:
        assert lifecycle.dispatch_finish(claimed, status=DispatchStatus.COMPLETED, tokens=tokens)
    assert calls.by_operation() == {"TransactWriteItems": 1}  # the mark rides in the finish
    return dispatch_storage.dispatch_get(dispatch.dispatch_id)


def mark_of(dispatch_id: str) -> str | None:
    item = call("get_item", TableName=DISPATCHES.name, Key={"dispatch_id": {"S": dispatch_id}})
    return item["Item"].get("meter_due", {}).get("S")


def test_an_ended_dispatch_is_sent_once_in_stripes_form(customer_tenant, meter_recorder):
    tenant, customer = customer_tenant
    dispatch = finished(tenant)
    assert mark_of(dispatch.dispatch_id) is not None
    report = runner.billing_pass()
    assert report.metered is not None and report.metered.sent == 1
    [event] = [e for e in meter_recorder.events if e["identifier"] == dispatch.dispatch_id]
    assert dispatch.cost is not None and dispatch.ended_at is not None
    assert event == {
        "event_name": "outpost_dispatch_cost",
        "payload[stripe_customer_id]": customer,
        "payload[value]": str(round(dispatch.cost["total"] * 1_000_000)),
        "identifier": dispatch.dispatch_id,
        "timestamp": str(int(dispatch.ended_at.timestamp())),
        "_authorization": f"Bearer {API_KEY}",
    }
    assert mark_of(dispatch.dispatch_id) is None
    assert billing_storage.meter_status_get().backlog == 0


def test_the_same_identifier_twice_is_refused_by_stripe_and_counted_as_sent(
    customer_tenant, meter_recorder
):
    tenant, _ = customer_tenant
    dispatch = finished(tenant)
    runner.billing_pass()
    # As if the pass had died after Stripe took the event and before the mark went:
    call(
        "update_item",
        TableName=DISPATCHES.name,
        Key={"dispatch_id": {"S": dispatch.dispatch_id}},
        UpdateExpression="SET meter_due = :s",
        ExpressionAttributeValues=values({":s": "0"}),
    )
    runner.billing_pass()
    sent = [e for e in meter_recorder.events if e["identifier"] == dispatch.dispatch_id]
    refused = [e for e in meter_recorder.refused if e["identifier"] == dispatch.dispatch_id]
    assert len(sent) == 1 and len(refused) == 1
    assert refused[0] == sent[0]  # the very same event
    assert mark_of(dispatch.dispatch_id) is None


def test_a_stripe_outage_keeps_the_backlog_and_sends_it_later(customer_tenant, meter_recorder):
    tenant, _ = customer_tenant
    meter_recorder.failing = True
    dispatches = [finished(tenant), finished(tenant)]
    report = runner.billing_pass()
    assert report.metered is not None and report.metered.failed == 2
    status = billing_storage.meter_status_get()
    assert status.backlog == 2
    assert status.last_error
    assert all(mark_of(d.dispatch_id) for d in dispatches)
    meter_recorder.failing = False
    runner.billing_pass()
    assert billing_storage.meter_status_get().backlog == 0
    ids = {e["identifier"] for e in meter_recorder.events}
    assert {d.dispatch_id for d in dispatches} <= ids


def test_a_tenant_without_a_customer_gets_one_and_then_its_usage_is_sent(
    meter_recorder, billing_on, make_tenant, settings
):
    settings.OUTPOST_STRIPE_API_KEY = ""  # provisioned before billing was on: no mark
    tenant, _ = make_tenant(tier=Tier.FREE)
    settings.OUTPOST_STRIPE_API_KEY = API_KEY
    dispatch = finished(tenant)
    first = runner.billing_pass()
    assert first.metered is not None and first.metered.waiting == 1
    runner.billing_pass(now=utcnow() + timedelta(seconds=1))  # the customer is made
    runner.billing_pass(now=utcnow() + timedelta(seconds=2))  # and the usage sent
    assert dispatch.dispatch_id in {e["identifier"] for e in meter_recorder.events}
    assert billing_storage.meter_status_get().backlog == 0


def test_with_billing_off_nothing_is_marked(make_tenant, settings):
    settings.OUTPOST_STRIPE_API_KEY = ""
    tenant, _ = make_tenant(tier=Tier.FREE)
    dispatch = finished(tenant)
    assert mark_of(dispatch.dispatch_id) is None
    assert runner.billing_pass().metered is None


def test_with_two_event_names_each_has_its_own_identifier(
    customer_tenant, meter_recorder, settings
):
    settings.OUTPOST_STRIPE_METER_EVENTS = {
        "outpost_cost": "cost_microdollars",
        "outpost_tokens": "tokens",
    }
    tenant, _ = customer_tenant
    dispatch = finished(tenant)
    runner.billing_pass()
    mine = {
        e["event_name"]: (e["identifier"], e["payload[value]"])
        for e in meter_recorder.events
        if e["identifier"].startswith(dispatch.dispatch_id)
    }
    assert dispatch.cost is not None
    assert mine == {
        "outpost_cost": (
            f"{dispatch.dispatch_id}:outpost_cost",
            str(round(dispatch.cost["total"] * 1_000_000)),
        ),
        "outpost_tokens": (f"{dispatch.dispatch_id}:outpost_tokens", "1500"),
    }
