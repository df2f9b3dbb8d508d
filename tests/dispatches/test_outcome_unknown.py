"""No ghost dispatches: a create whose answer is lost says so, and a retry with its key is safe."""

from dispatches import storage
from outpost_admin.dynamo import counting_calls, utcnow
from tenants import storage as tenant_storage
from tests.conftest import answers_lost
from usage import storage as usage_storage

from .conftest import BODY


def dispatches_of(tenant_id):
    return storage.dispatch_list(tenant_id=tenant_id, limit=100).items


def count_today(tenant_id):
    return usage_storage.usage_get(tenant_id, utcnow().date()).dispatches


def test_a_create_whose_answer_is_lost_says_the_dispatch_may_exist(api, tenant_key):
    tenant, key = tenant_key()
    with answers_lost() as lost:
        response = api(key).post("/api/v1/dispatches", BODY)
    assert lost and response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert "may or may not exist" in error["message"] and "same Idempotency-Key" in error["message"]
    generated = response["Idempotency-Key"]
    assert error["details"] == {
        "outcome": "unknown",
        "dispatchMayExist": True,
        "idempotencyKey": generated,
    }
    assert int(response["Retry-After"]) > 0
    assert len(dispatches_of(tenant.tenant_id)) == 1  # it was in fact committed


def test_a_retry_with_the_generated_key_replays_the_committed_dispatch(api, tenant_key):
    tenant, key = tenant_key()
    with answers_lost():
        lost = api(key).post("/api/v1/dispatches", BODY)
    retry = api(key).post("/api/v1/dispatches", BODY, HTTP_IDEMPOTENCY_KEY=lost["Idempotency-Key"])
    assert retry.status_code == 201 and retry["Idempotent-Replayed"] == "true"
    [committed] = dispatches_of(tenant.tenant_id)
    assert retry.json()["data"]["dispatchId"] == committed.dispatch_id
    assert count_today(tenant.tenant_id) == 1
    assert tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs == 1


def test_a_lost_answer_retried_inside_the_request_is_applied_once(api, tenant_key):
    """botocore sends the same transaction again with the same ClientRequestToken."""
    tenant, key = tenant_key()
    api(key).get("/api/v1/me")  # a warm key cache: the create is one call
    with answers_lost(times=1) as lost, counting_calls() as log:
        response = api(key).post("/api/v1/dispatches", BODY)
    assert lost == [1] and response.status_code == 201, response.content
    assert log.operations == ["TransactWriteItems"]
    [committed] = dispatches_of(tenant.tenant_id)
    assert response.json()["data"]["dispatchId"] == committed.dispatch_id
    assert count_today(tenant.tenant_id) == 1
    assert tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs == 1


def test_a_create_without_a_key_gets_one_to_retry_with(api, tenant_key):
    tenant, key = tenant_key()
    first = api(key).post("/api/v1/dispatches", BODY)
    assert first.status_code == 201
    generated = first["Idempotency-Key"]
    again = api(key).post("/api/v1/dispatches", BODY, HTTP_IDEMPOTENCY_KEY=generated)
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json()["data"] == first.json()["data"]
    assert count_today(tenant.tenant_id) == 1


def test_a_given_key_is_returned_as_given(api, tenant_key):
    _, key = tenant_key()
    response = api(key).post("/dispatch", BODY, HTTP_IDEMPOTENCY_KEY="order-42")
    assert response.status_code == 201 and response["Idempotency-Key"] == "order-42"


def test_two_creates_without_keys_are_two_dispatches(api, tenant_key):
    tenant, key = tenant_key()
    first = api(key).post("/api/v1/dispatches", BODY)
    second = api(key).post("/api/v1/dispatches", BODY)
    assert first["Idempotency-Key"] != second["Idempotency-Key"]
    assert first.json()["data"]["dispatchId"] != second.json()["data"]["dispatchId"]
    assert count_today(tenant.tenant_id) == 2
