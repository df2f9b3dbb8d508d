"""Deliveries to a real receiver: signed (verified by the library's own verifier), one
webhook-id per event, retried in order on Svix's schedule, nothing lost or doubled."""

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from standardwebhooks import Webhook

from dispatches import lifecycle
from dispatches.domain import DispatchStatus
from outpost_admin.dynamo import utcnow
from tests.dispatches.workers import create
from webhooks import delivery, delivery_storage, selectors, services, storage
from webhooks.domain import DeliveryStatus

from .conftest import Background, deliver_until
from .receiver import Receiver

pytestmark = pytest.mark.django_db


def run_to(tenant, status=DispatchStatus.COMPLETED, **fields):
    dispatch = create(tenant)
    claimed = lifecycle.dispatch_claim(dispatch, worker_id="w-hooks")
    assert claimed is not None
    assert lifecycle.dispatch_finish(claimed, status=status, run=claimed.claimed_at, **fields)
    return claimed


def test_a_finished_dispatch_reaches_the_receiver_signed_as_standard_webhooks_says(
    make_tenant, receiver, endpoint_for, deliverer_for
):
    tenant, _ = make_tenant()
    endpoint, secret = endpoint_for(tenant, receiver.url)
    dispatch = run_to(tenant)
    deliver_until(deliverer_for(tenant), lambda: receiver.requests)
    [got] = receiver.requests
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "dispatch.succeeded"
    assert payload["data"]["dispatchId"] == dispatch.dispatch_id
    assert payload["data"]["status"] == "success"
    assert "logs" not in payload["data"] and payload["data"]["task"] == dispatch.task
    assert got.headers["webhook-id"].startswith("msg_")
    assert got.headers["webhook-signature"].startswith("v1,")
    [logged] = selectors.delivery_list(
        tenant_id=tenant.tenant_id, endpoint_id=endpoint.endpoint_id
    ).items
    assert (
        logged.status == DeliveryStatus.DELIVERED and logged.event_id == got.headers["webhook-id"]
    )


def test_a_claim_sends_dispatch_started_to_endpoints_that_want_it(
    make_tenant, receiver, endpoint_for, deliverer_for
):
    tenant, _ = make_tenant()
    _, secret = endpoint_for(tenant, receiver.url, events=("dispatch.started",))
    dispatch = create(tenant)
    assert lifecycle.dispatch_claim(dispatch, worker_id="w-hooks")
    deliver_until(deliverer_for(tenant), lambda: receiver.requests)
    payload = Webhook(secret).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert payload["type"] == "dispatch.started"
    assert payload["data"]["status"] == "running"


def test_a_receiver_that_fails_then_succeeds_sees_the_retries_in_order_with_one_id(
    make_tenant, receiver, endpoint_for, deliverer_for
):
    receiver.answers = [500, 503, 200]
    tenant, _ = make_tenant()
    endpoint, secret = endpoint_for(tenant, receiver.url, events=("dispatch.failed",))
    run_to(tenant, DispatchStatus.FAILED, exit_code=1, error_message="boom")
    deliver_until(deliverer_for(tenant), lambda: len(receiver.requests) >= 3)
    got = receiver.requests
    assert len(got) == 3
    assert len({r.headers["webhook-id"] for r in got}) == 1
    for r in got:
        assert Webhook(secret).verify(r.body, r.headers)["type"] == "dispatch.failed"
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4  # the (shortened) schedule's 2nd and 3rd delays
    event_id = got[0].headers["webhook-id"]
    logged, attempts = selectors.delivery_get(
        tenant_id=tenant.tenant_id, endpoint_id=endpoint.endpoint_id, event_id=event_id
    )
    assert logged.status == DeliveryStatus.DELIVERED and logged.attempts == 3
    assert [a.status_code for a in attempts] == [500, 503, 200]
    assert [a.ok for a in attempts] == [False, False, True]
    assert attempts[0].excerpt == "ok" and attempts[0].latency_ms >= 0


def test_the_schedule_is_svix_s_with_jitter_and_ends_after_eight_attempts(settings):
    settings.OUTPOST_WEBHOOK_RETRY_DELAYS = [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
    now = utcnow()
    for done, delay in enumerate([0, 5, 300, 1800, 7200, 18000, 36000, 36000]):
        due = delivery.next_attempt(done, now)
        assert due is not None
        assert delay <= (due - now).total_seconds() <= delay * 1.1 + 0.001
    assert delivery.next_attempt(8, now) is None


def test_a_delivery_that_never_succeeds_fails_after_the_last_attempt(
    make_tenant, receiver, endpoint_for, deliverer_for, settings
):
    settings.OUTPOST_WEBHOOK_RETRY_DELAYS = [0, 0.1, 0.1]
    receiver.answers = [500]
    tenant, _ = make_tenant()
    endpoint, _ = endpoint_for(tenant, receiver.url)
    run_to(tenant)

    def failed():
        page = selectors.delivery_list(tenant_id=tenant.tenant_id, endpoint_id=endpoint.endpoint_id)
        return page.items and page.items[0].status == DeliveryStatus.FAILED

    deliver_until(deliverer_for(tenant), failed)
    assert len(receiver.requests) == 3
    [logged] = selectors.delivery_list(
        tenant_id=tenant.tenant_id, endpoint_id=endpoint.endpoint_id
    ).items
    assert logged.status == DeliveryStatus.FAILED and logged.next_attempt_at is None


def test_two_deliverers_fan_an_event_out_once(make_tenant, receiver, endpoint_for, deliverer_for):
    tenant, _ = make_tenant()
    endpoint, _ = endpoint_for(tenant, receiver.url)
    run_to(tenant)
    first, second = deliverer_for(tenant), deliverer_for(tenant)
    with Background(first), Background(second):
        receiver.wait_for(1)
        time.sleep(0.5)
    assert len(receiver.requests) == 1
    page = selectors.delivery_list(tenant_id=tenant.tenant_id, endpoint_id=endpoint.endpoint_id)
    assert len(page.items) == 1


def test_a_rotated_secret_signs_beside_the_new_one_for_the_grace_period(
    make_tenant, receiver, endpoint_for, deliverer_for, actor
):
    tenant, _ = make_tenant()
    endpoint, old = endpoint_for(tenant, receiver.url)
    _, new = services.endpoint_rotate_secret(
        tenant_id=tenant.tenant_id, endpoint_id=endpoint.endpoint_id, actor=actor
    )
    run_to(tenant)
    deliver_until(deliverer_for(tenant), lambda: receiver.requests)
    got = receiver.requests[0]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(got.body, got.headers)
    rotated = storage.endpoint_get(tenant.tenant_id, endpoint.endpoint_id)
    expires = rotated.secrets[1].expires_at
    assert expires is not None
    grace = expires - rotated.secrets[0].created_at
    assert grace == timedelta(seconds=settings.OUTPOST_WEBHOOK_ROTATION_GRACE_SECONDS)
    assert rotated.signing_secrets(utcnow() + grace + timedelta(seconds=1)) == [new]


def test_a_create_s_callback_url_gets_the_terminal_event_signed_with_the_callback_secret(
    make_tenant, receiver, deliverer_for, actor
):
    tenant, _ = make_tenant()
    secret = services.callback_secret_rotate(tenant_id=tenant.tenant_id, actor=actor)
    dispatch = lifecycle.dispatch_claim(create(tenant), worker_id="w")
    assert dispatch is not None
    # The API stores the URL on the dispatch (test_apis: its create gains no call).
    from outpost_admin.dynamo import call, values
    from outpost_admin.dynamo.tables import DISPATCHES

    call(
        "update_item",
        TableName=DISPATCHES.name,
        Key={"dispatch_id": {"S": dispatch.dispatch_id}},
        UpdateExpression="SET callback_url = :u",
        ExpressionAttributeValues=values({":u": receiver.url}),
    )
    lifecycle.dispatch_finish(dispatch, status=DispatchStatus.TIMEOUT, run=dispatch.claimed_at)
    deliver_until(deliverer_for(tenant), lambda: receiver.requests)
    [got] = receiver.requests
    assert Webhook(secret).verify(got.body, got.headers)["type"] == "dispatch.timed_out"


def test_a_worker_killed_mid_delivery_is_followed_by_a_delivery_not_a_loss(
    make_tenant, endpoint_for, deliverer_for, settings
):
    hanging = Receiver(delay=30).start()  # the first worker's request never gets an answer
    try:
        tenant, _ = make_tenant()
        endpoint, secret = endpoint_for(tenant, hanging.url)
        run_to(tenant)
        env = {
            **os.environ,
            "DYNAMODB_ENDPOINT_URL": settings.DYNAMODB_ENDPOINT_URL,
            "OUTPOST_WEBHOOK_ALLOW_PRIVATE": "true",
            "OUTPOST_WEBHOOK_LEASE_SECONDS": "2",
        }
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "deliver_webhooks", "--tenant", tenant.tenant_id],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert hanging.wait_for(1, timeout=60), "the first worker never sent"
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
        hanging.delay = 0
        settings.OUTPOST_WEBHOOK_LEASE_SECONDS = 2
        deliver_until(deliverer_for(tenant), lambda: len(hanging.requests) >= 2, timeout=30)
        first, second = hanging.requests[:2]
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        Webhook(secret).verify(second.body, second.headers)
        [logged] = selectors.delivery_list(
            tenant_id=tenant.tenant_id, endpoint_id=endpoint.endpoint_id
        ).items
        assert logged.status == DeliveryStatus.DELIVERED
        assert logged.attempts == 1  # the killed worker recorded nothing
    finally:
        hanging.stop()


@pytest.mark.django_db(transaction=True)  # the e-mail's recipients are read in a delivery thread
def test_an_endpoint_failing_for_five_days_is_disabled_and_its_owners_told(
    make_tenant, receiver, endpoint_for, deliverer_for, settings, login_member, django_user_model
):
    settings.OUTPOST_WEBHOOK_RETRY_DELAYS = [0]
    receiver.answers = [500]
    tenant, _ = make_tenant()
    login_member(tenant.tenant_id)
    owner = django_user_model.objects.get(tenant_membership__tenant_id=tenant.tenant_id)
    endpoint, _ = endpoint_for(tenant, receiver.url)
    five_days_ago = utcnow() - timedelta(days=5, seconds=1)
    storage.endpoint_mark_failing(endpoint, since=five_days_ago)
    run_to(tenant)
    deliver_until(deliverer_for(tenant), lambda: receiver.requests)
    disabled = storage.endpoint_get(tenant.tenant_id, endpoint.endpoint_id)
    assert not disabled.enabled
    assert disabled.disabled_reason == "Every delivery failed for 5 days."
    assert [(m.subject, m.to) for m in mail.outbox] == [
        (f"[Outpost] Webhook endpoint disabled: {receiver.url}", [owner.username])
    ]
    assert mail.outbox[0].body == (
        f"The webhook endpoint {receiver.url} failed every delivery for 5 days and has been "
        "disabled. Nothing is sent to it until it is enabled again under Webhooks.\n"
    )
    run_to(tenant)  # a disabled endpoint gets nothing more
    deliverer = deliverer_for(tenant)
    deliverer.run_pass()
    deliverer.wait_idle()
    assert len(receiver.requests) == 1


def test_nothing_is_sent_for_a_tenant_without_endpoints_and_the_outbox_empties(
    make_tenant, deliverer_for
):
    tenant, _ = make_tenant()
    run_to(tenant)
    deliverer = deliverer_for(tenant)
    assert deliverer.run_pass() == 2  # the started marker and the terminal event
    assert deliverer.run_pass() == 0
    assert json.dumps(selectors.endpoint_list(tenant_id=tenant.tenant_id)) == "[]"
    assert delivery_storage.due("0", now=utcnow()) is not None
