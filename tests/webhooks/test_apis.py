"""/api/v1/webhooks: the webhooks scope (or admin), the key's own tenant, 400s naming the field."""

import json
from collections import Counter

import pytest
from standardwebhooks import Webhook

from dispatches.domain import DispatchStatus
from outpost_admin.audit import audit_list
from outpost_admin.dynamo import counting_calls, utcnow
from tenants import services as tenant_services
from tenants.domain import Scope
from tests.dispatches.conftest import BODY
from webhooks.delivery import Deliverer

from .conftest import deliver_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client):
    class Caller:
        def __init__(self, raw):
            self.headers = {"HTTP_X_API_KEY": raw}

        def call(self, method, path, body=None):
            data = json.dumps(body) if body is not None else ""
            return getattr(client, method)(
                path, data, content_type="application/json", **self.headers
            )

        def get(self, path):
            return client.get(path, **self.headers)

    return Caller


@pytest.fixture
def hooks_tenant(make_tenant, actor):
    """A tenant and an admin key of it (admin includes the webhooks scope)."""

    def make():
        tenant, _ = make_tenant()
        return tenant, key_with(tenant, actor, Scope.ADMIN)

    return make


def key_with(tenant, actor, *scopes):
    return tenant_services.key_create(
        tenant_id=tenant.tenant_id, name="k", scopes=scopes, expires_at=None, actor=actor
    ).raw


def test_an_endpoint_is_created_with_its_secret_shown_once_and_audited(hooks_tenant, api, receiver):
    tenant, raw = hooks_tenant()
    created = api(raw).call(
        "post", "/api/v1/webhooks", {"url": receiver.url, "events": ["dispatch.failed"]}
    )
    assert created.status_code == 201 and created["Cache-Control"] == "no-store"
    data = created.json()["data"]
    assert data["secret"].startswith("whsec_") and data["events"] == ["dispatch.failed"]
    shown = api(raw).get(f"/api/v1/webhooks/{data['endpointId']}").json()["data"]
    assert "secret" not in shown and shown["url"] == receiver.url
    listed = api(raw).get("/api/v1/webhooks").json()["data"]["items"]
    assert [e["endpointId"] for e in listed] == [data["endpointId"]]
    actions = [e.action for e in audit_list(tenant_id=tenant.tenant_id, limit=5).items]
    assert "webhook.create" in actions


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://x.example/", "events": ["dispatch.failed"]}, "url"),
        ({"url": "https://x.example/", "events": []}, "events"),
        ({"url": "https://x.example/", "events": ["dispatch.exploded"]}, "events"),
        ({"events": ["dispatch.failed"]}, "url"),
        ({"url": 5, "events": ["dispatch.failed"]}, "url"),
    ],
)
def test_a_bad_endpoint_is_a_400_naming_the_field(hooks_tenant, api, body, field, settings):
    settings.OUTPOST_WEBHOOK_ALLOW_PRIVATE = False
    _, raw = hooks_tenant()
    answer = api(raw).call("post", "/api/v1/webhooks", body)
    assert answer.status_code == 400
    assert field in answer.json()["error"]["details"]


def test_another_tenant_s_endpoint_is_a_404(hooks_tenant, api, receiver):
    _, first = hooks_tenant()
    _, second = hooks_tenant()
    created = api(first).call(
        "post", "/api/v1/webhooks", {"url": receiver.url, "events": ["dispatch.failed"]}
    )
    endpoint_id = created.json()["data"]["endpointId"]
    assert api(second).get(f"/api/v1/webhooks/{endpoint_id}").status_code == 404
    assert api(second).call("delete", f"/api/v1/webhooks/{endpoint_id}").status_code == 404
    assert api(second).get(f"/api/v1/webhooks/{endpoint_id}/deliveries").status_code == 404


def test_the_webhooks_scope_is_needed_and_admin_includes_it(make_tenant, api, actor):
    tenant, _ = make_tenant()
    only_dispatch = key_with(tenant, actor, Scope.DISPATCH)
    webhooks = key_with(tenant, actor, Scope.WEBHOOKS)
    assert api(only_dispatch).get("/api/v1/webhooks").status_code == 403
    assert api(webhooks).get("/api/v1/webhooks").status_code == 200


def test_the_log_resend_test_event_and_recover_through_the_api(
    hooks_tenant, api, receiver, settings
):
    settings.OUTPOST_WEBHOOK_RETRY_DELAYS = [0]
    receiver.answers = [500, 200]
    tenant, raw = hooks_tenant()
    caller = api(raw)
    created = caller.call(
        "post", "/api/v1/webhooks", {"url": receiver.url, "events": ["dispatch.failed"]}
    ).json()["data"]
    base = f"/api/v1/webhooks/{created['endpointId']}"
    assert caller.call("post", f"{base}/test").status_code == 202
    deliverer = Deliverer(tenant_id=tenant.tenant_id)
    deliver_until(deliverer, lambda: receiver.requests)
    [failed] = caller.get(f"{base}/deliveries").json()["data"]["items"]
    assert failed["status"] == "failed" and failed["lastStatusCode"] == 500
    assert failed["eventType"] == "webhook.test"
    detail = caller.get(f"{base}/deliveries/{failed['eventId']}").json()["data"]
    assert [a["statusCode"] for a in detail["attemptList"]] == [500]
    recovered = caller.call("post", f"{base}/recover", {"since": "2020-01-01T00:00:00Z"})
    assert recovered.json()["data"] == {"deliveries": 1}
    deliver_until(deliverer, lambda: len(receiver.requests) >= 2)
    again = caller.get(f"{base}/deliveries/{failed['eventId']}").json()["data"]
    assert again["status"] == "delivered" and again["attempts"] == 2
    assert caller.call("post", f"{base}/deliveries/{failed['eventId']}/resend").status_code == 202
    deliver_until(deliverer, lambda: len(receiver.requests) >= 3)
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert ids == {failed["eventId"]}
    deliverer.close()
    actions = {e.action for e in audit_list(tenant_id=tenant.tenant_id, limit=20).items}
    assert {"webhook.test", "webhook.recover", "webhook.resend"} <= actions


def test_recover_takes_only_a_time(hooks_tenant, api, receiver):
    _, raw = hooks_tenant()
    created = (
        api(raw)
        .call("post", "/api/v1/webhooks", {"url": receiver.url, "events": ["dispatch.failed"]})
        .json()["data"]
    )
    answer = api(raw).call(
        "post", f"/api/v1/webhooks/{created['endpointId']}/recover", {"since": "yesterday"}
    )
    assert answer.status_code == 400 and "since" in answer.json()["error"]["details"]
    long_ago = api(raw).call(  # before 1970, which no event is: every failed one
        "post",
        f"/api/v1/webhooks/{created['endpointId']}/recover",
        {"since": "0668-09-29T20:45:46.84Z"},
    )
    assert long_ago.status_code == 202, long_ago.content


def test_a_create_with_a_callback_url_costs_no_extra_call_and_the_url_gets_the_outcome(
    hooks_tenant, api, receiver, settings
):
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": ["true"]})
    tenant, raw = hooks_tenant()
    caller = api(raw)
    secret = caller.call("post", "/api/v1/webhooks/callback-secret").json()["data"]["secret"]
    caller.call("post", "/api/v1/dispatches", BODY)  # the key verified and cached
    with counting_calls() as log:
        created = caller.call("post", "/api/v1/dispatches", BODY | {"callbackUrl": receiver.url})
    assert created.status_code == 201
    assert log.by_operation() == Counter({"TransactWriteItems": 1})
    from dispatches import lifecycle, selectors

    dispatch = selectors.dispatch_get(
        tenant_id=tenant.tenant_id, dispatch_id=created.json()["data"]["dispatchId"]
    )
    assert dispatch.callback_url == receiver.url
    lifecycle.dispatch_cancel(dispatch=dispatch, actor=lifecycle.RECOVERY)
    deliver_until(Deliverer(tenant_id=tenant.tenant_id), lambda: receiver.requests)
    [got] = receiver.requests
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "dispatch.cancelled"
    assert payload["data"]["status"] == DispatchStatus.CANCELLED.api_value


def test_a_bad_callback_url_is_a_400_naming_it(hooks_tenant, api, settings):
    settings.OUTPOST_WEBHOOK_ALLOW_PRIVATE = False
    _, raw = hooks_tenant()
    answer = api(raw).call(
        "post", "/api/v1/dispatches", BODY | {"callbackUrl": "http://10.0.0.1/x"}
    )
    assert answer.status_code == 400
    assert "callbackUrl" in answer.json()["error"]["details"]


def test_notification_settings_round_trip_and_are_validated(hooks_tenant, api):
    _, raw = hooks_tenant()
    caller = api(raw)
    default = caller.get("/api/v1/webhooks/notifications").json()["data"]
    assert default == {"onFailure": False, "streak": 0, "cooldownMinutes": 60}
    body = {"onFailure": True, "streak": 3, "cooldownMinutes": 30}
    assert caller.call("put", "/api/v1/webhooks/notifications", body).json()["data"] == body
    bad = caller.call("put", "/api/v1/webhooks/notifications", body | {"streak": -1})
    assert bad.status_code == 400 and "streak" in bad.json()["error"]["details"]


def test_the_schema_lists_the_webhook_operations(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert "/api/v1/webhooks" in paths
    assert "/api/v1/webhooks/{endpoint_id}/deliveries/{event_id}/resend" in paths
    assert utcnow()


def test_an_endpoint_beyond_the_tenant_s_ten_is_a_409_naming_the_url(hooks_tenant, api, receiver):
    _, raw = hooks_tenant()
    caller = api(raw)
    body = {"url": receiver.url, "events": ["dispatch.failed"]}
    for _ in range(10):
        assert caller.call("post", "/api/v1/webhooks", body).status_code == 201
    refused = caller.call("post", "/api/v1/webhooks", body)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "CONFLICT"
    assert error["details"] == {"url": ["A tenant has at most 10 endpoints."]}
    assert len(caller.get("/api/v1/webhooks").json()["data"]["items"]) == 10
