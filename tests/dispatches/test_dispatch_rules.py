"""Quotas, idempotency, isolation, validation and listing of the dispatch API."""

import json
import threading

import pytest
from django.test import Client

from dispatches import lifecycle as services
from dispatches import storage
from dispatches.domain import DispatchStatus
from outpost_admin.audit import Actor
from outpost_admin.dynamo import call, counting_calls, to_item, utcnow, values
from outpost_admin.dynamo.tables import TENANTS
from tenants import counters
from tenants import storage as tenant_storage
from tenants.domain import Scope, Tier
from tests.conftest import roll_up
from usage import storage as usage_storage

from .conftest import BODY


def concurrently(count, fn):
    results, barrier = [], threading.Barrier(count)

    def run():
        barrier.wait()
        results.append(fn())

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def post(key, body, **headers):
    return Client().post(
        "/api/v1/dispatches",
        json.dumps(body),
        content_type="application/json",
        HTTP_X_API_KEY=key,
        **headers,
    )


# --- quotas -------------------------------------------------------------------------


def test_a_tenant_at_nine_of_ten_daily_gets_exactly_one_more(tenant_key):
    tenant, key = tenant_key(Tier.FREE)
    call(
        "update_item",
        TableName=TENANTS.name,
        Key=tenant_storage.tenant_key(tenant.tenant_id),
        UpdateExpression="SET usageLimits.maxConcurrentJobs = :n",
        ExpressionAttributeValues=values({":n": 50}),
    )
    call(
        "put_item",
        TableName=TENANTS.name,
        Item=to_item(
            {
                "tenant_id": tenant.tenant_id,
                "sk": counters.usage_sk(utcnow().date()),
                "dispatches": 9,
            }
        ),
    )
    responses = concurrently(10, lambda: post(key, BODY | {"timeoutSeconds": 60}))
    assert sorted(r.status_code for r in responses) == [201] + [429] * 9
    refused = next(r for r in responses if r.status_code == 429)
    error = refused.json()["error"]
    assert error["code"] == "RATE_LIMIT_EXCEEDED"
    assert error["details"]["limit"] == "daily" and error["details"]["max"] == 10
    assert error["details"]["current"] == 10 and error["details"]["resetsAt"].endswith(
        "T00:00:00.000Z"
    )
    assert int(refused["Retry-After"]) > 0
    assert usage_storage.usage_get(tenant.tenant_id, utcnow().date()).dispatches == 10


def test_the_concurrency_refusal_names_the_limit_and_retry(api, tenant_key):
    _, key = tenant_key(Tier.FREE)
    assert api(key).post("/dispatch", BODY | {"timeoutSeconds": 60}).status_code == 201
    refused = api(key).post("/dispatch", BODY | {"timeoutSeconds": 60})
    assert refused.status_code == 429 and refused["Retry-After"]
    assert refused.json()["error"]["details"] == {
        "limit": "concurrency",
        "max": 1,
        "current": 1,
        "resetsAt": None,
    }


def test_after_a_dispatch_finishes_the_slot_is_free_again(api, tenant_key):
    tenant, key = tenant_key(Tier.FREE)
    first = api(key).post("/dispatch", BODY | {"timeoutSeconds": 60}).json()["data"]["dispatchId"]
    assert services.dispatch_finish(
        storage.dispatch_get(first), status=DispatchStatus.COMPLETED, exit_code=0
    )
    assert api(key).post("/dispatch", BODY | {"timeoutSeconds": 60}).status_code == 201
    assert tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs == 1


def test_duplicate_terminal_writes_release_the_slot_once(api, tenant_key):
    tenant, key = tenant_key()
    dispatch = storage.dispatch_get(api(key).post("/dispatch", BODY).json()["data"]["dispatchId"])
    outcomes = concurrently(
        6, lambda: services.dispatch_finish(dispatch, status=DispatchStatus.FAILED, exit_code=3)
    )
    assert sorted(outcomes) == [False] * 5 + [True]
    assert tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs == 0
    roll_up()
    assert usage_storage.usage_get(tenant.tenant_id, utcnow().date()).by_status == {"failed": 1}


def test_a_suspended_tenant_cannot_dispatch(api, tenant_key):
    tenant, key = tenant_key()
    from tenants.domain import TenantStatus
    from tenants.services import tenant_set_status

    tenant_set_status(
        tenant_id=tenant.tenant_id, status=TenantStatus.SUSPENDED, actor=Actor(name="t")
    )
    response = api(key).post("/dispatch", BODY)
    assert response.status_code == 401 and "suspended" in response.json()["error"]["message"]


# --- idempotency -------------------------------------------------------------------------


def test_the_same_key_and_body_replays_without_a_second_dispatch(api, tenant_key):
    tenant, key = tenant_key()
    first = api(key).post("/api/v1/dispatches", BODY, HTTP_IDEMPOTENCY_KEY="order-1")
    again = api(key).post("/api/v1/dispatches", BODY, HTTP_IDEMPOTENCY_KEY="order-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert again.json()["data"] == first.json()["data"]
    assert tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs == 1
    assert usage_storage.usage_get(tenant.tenant_id, utcnow().date()).dispatches == 1


def test_the_key_in_the_body_works_like_the_header(api, tenant_key):
    _, key = tenant_key()
    first = api(key).post("/api/v1/dispatches", BODY | {"idempotencyKey": "body-key"})
    again = api(key).post("/api/v1/dispatches", BODY | {"idempotencyKey": "body-key"})
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["data"]["dispatchId"] == first.json()["data"]["dispatchId"]


def test_the_same_key_with_another_body_is_a_422(api, tenant_key):
    _, key = tenant_key()
    api(key).post("/api/v1/dispatches", BODY, HTTP_IDEMPOTENCY_KEY="order-2")
    other = api(key).post(
        "/api/v1/dispatches",
        BODY | {"task": "Something else entirely"},
        HTTP_IDEMPOTENCY_KEY="order-2",
    )
    assert other.status_code == 422 and other.json()["error"]["code"] == "IDEMPOTENCY_MISMATCH"


def test_idempotency_keys_are_scoped_to_the_tenant(api, tenant_key):
    _, key_a = tenant_key()
    _, key_b = tenant_key()
    a = api(key_a).post("/api/v1/dispatches", BODY, HTTP_IDEMPOTENCY_KEY="shared")
    b = api(key_b).post("/api/v1/dispatches", BODY, HTTP_IDEMPOTENCY_KEY="shared")
    assert a.status_code == b.status_code == 201 and not b.has_header("Idempotent-Replayed")
    assert a.json()["data"]["dispatchId"] != b.json()["data"]["dispatchId"]


def test_concurrent_requests_with_one_key_make_one_dispatch(tenant_key):
    tenant, key = tenant_key()
    responses = concurrently(5, lambda: post(key, BODY, HTTP_IDEMPOTENCY_KEY="race"))
    created = [
        r for r in responses if r.status_code == 201 and not r.has_header("Idempotent-Replayed")
    ]
    assert len(created) == 1
    assert all(r.status_code in (201, 409) for r in responses)
    assert {r.json()["data"]["dispatchId"] for r in responses if r.status_code == 201} == {
        created[0].json()["data"]["dispatchId"]
    }
    assert usage_storage.usage_get(tenant.tenant_id, utcnow().date()).dispatches == 1


def test_a_record_still_in_flight_is_a_409(api, tenant_key):
    tenant, key = tenant_key()
    from outpost_admin.dynamo.tables import IDEMPOTENCY

    # A first request whose transaction is under way: its record is not readable yet, but the
    # condition on it fails. Simulate by holding the key with a record that has no response.
    call(
        "put_item",
        TableName=IDEMPOTENCY.name,
        Item=to_item(
            {"idempotency_key": f"{tenant.tenant_id}#busy", "ttl": int(utcnow().timestamp()) + 3600}
        ),
    )
    response = api(key).post("/api/v1/dispatches", BODY, HTTP_IDEMPOTENCY_KEY="busy")
    assert response.status_code == 409 and response.json()["error"]["code"] == "CONFLICT"


# --- isolation and reading ------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/dispatch/{id}"),
        ("get", "/api/v1/dispatches/{id}"),
        ("delete", "/dispatch/{id}"),
        ("post", "/api/v1/dispatches/{id}/cancel"),
    ],
)
def test_another_tenants_dispatch_is_a_404_like_a_missing_one(api, tenant_key, method, path):
    _, owner = tenant_key()
    _, outsider = tenant_key()
    dispatch_id = api(owner).post("/dispatch", BODY).json()["data"]["dispatchId"]
    foreign = getattr(api(outsider), method)(path.format(id=dispatch_id))
    missing = getattr(api(outsider), method)(path.format(id="01J0000000000000000000000X"))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"] == missing.json()["error"]
    assert storage.dispatch_get(dispatch_id).status == DispatchStatus.PENDING


def test_get_shows_lowercase_status_timing_and_the_log_tail(api, tenant_key):
    _, key = tenant_key()
    dispatch_id = api(key).post("/dispatch", BODY).json()["data"]["dispatchId"]
    with counting_calls() as log:  # never claimed: no output can exist, so no log Query
        assert api(key).get(f"/api/v1/dispatches/{dispatch_id}").json()["data"]["logs"] == ""
    assert log.operations == ["GetItem"]
    dispatch = storage.dispatch_claim(
        storage.dispatch_get(dispatch_id), worker_id="w1", now=utcnow()
    )
    assert dispatch is not None
    storage.log_append(dispatch, seq=1, text="hello\n", now=utcnow())
    storage.log_append(dispatch, seq=2, text="world\n", now=utcnow())
    services.dispatch_finish(dispatch, status=DispatchStatus.COMPLETED, exit_code=0)
    with counting_calls() as log:
        data = api(key).get(f"/api/v1/dispatches/{dispatch_id}").json()["data"]
    assert log.operations == ["GetItem", "Query"]
    assert data["status"] == "success" and data["exitCode"] == 0
    assert data["startedAt"] and data["endedAt"] and data["logs"] == "hello\nworld\n"
    assert api(key).get(f"/dispatch/{dispatch_id}").json()["data"]["status"] == "success"


def test_the_list_is_newest_first_with_one_query_per_page(api, tenant_key):
    _, key = tenant_key()
    ids = [
        api(key).post("/dispatch", BODY | {"agent": agent}).json()["data"]["dispatchId"]
        for agent in ("claude", "codex", "claude")
    ]
    api(key).get("/api/v1/me")
    with counting_calls() as log:
        page = api(key).get("/api/v1/dispatches?limit=2").json()["data"]
    assert log.operations == ["Query"]
    assert [d["dispatchId"] for d in page["items"]] == ids[::-1][:2]
    rest = api(key).get(f"/api/v1/dispatches?limit=2&cursor={page['cursor']}").json()["data"]
    assert [d["dispatchId"] for d in rest["items"]] == ids[:1] and rest["cursor"] is None
    codex = api(key).get("/api/v1/dispatches?agent=codex").json()["data"]["items"]
    assert [d["dispatchId"] for d in codex] == [ids[1]]
    pending = (
        api(key).get("/api/v1/dispatches?status=pending&since=2000-01-01T00:00:00Z").json()["data"]
    )
    assert len(pending["items"]) == 3
    assert api(key).get("/api/v1/dispatches?status=success").json()["data"]["items"] == []


def test_a_tampered_or_foreign_cursor_is_a_400(api, tenant_key):
    _, key_a = tenant_key()
    _, key_b = tenant_key()
    for _ in range(2):
        api(key_a).post("/dispatch", BODY)
    cursor = api(key_a).get("/api/v1/dispatches?limit=1").json()["data"]["cursor"]
    tampered = api(key_a).get(f"/api/v1/dispatches?limit=1&cursor={cursor[:-2]}xx")
    foreign = api(key_b).get(f"/api/v1/dispatches?limit=1&cursor={cursor}")
    for response in (tampered, foreign):
        assert response.status_code == 400 and "cursor" in response.json()["error"]["details"]


def test_a_reversed_time_range_is_a_400_naming_until(api, tenant_key):
    _, key = tenant_key()
    response = api(key).get(
        "/api/v1/dispatches?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z"
    )
    assert response.status_code == 400
    assert "until" in response.json()["error"]["details"]


def test_a_time_range_before_the_year_1000_is_answered(api, tenant_key):
    # Stored and compared as text: "999-..." would sort after "1000-..." without the zero.
    _, key = tenant_key()
    api(key).post("/dispatch", BODY)
    response = api(key).get(
        "/api/v1/dispatches?since=0999-12-31T00:00:00Z&until=1000-01-01T00:00:00Z"
    )
    assert response.status_code == 200 and response.json()["data"]["items"] == []
    since_then = api(key).get("/api/v1/dispatches?since=0999-12-31T00:00:00Z")
    assert len(since_then.json()["data"]["items"]) == 1


# --- validation and scopes --------------------------------------------------------------------


def test_every_bad_field_is_listed(api, tenant_key):
    _, key = tenant_key()
    response = api(key).post(
        "/dispatch",
        {"agent": "hal", "task": "short", "repo": "nope", "timeoutSeconds": 5, "tags": "x"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert set(error["details"]) >= {"agent", "task", "repo", "timeoutSeconds", "tags"}
    assert "claude" in error["details"]["agent"][0]


def test_a_model_of_another_agent_is_refused_naming_the_allowed_ones(api, tenant_key):
    _, key = tenant_key()
    response = api(key).post("/dispatch", BODY | {"modelId": "gpt-5.1-codex-max"})
    assert response.status_code == 400
    assert "claude-opus-4-5-20251101" in response.json()["error"]["details"]["modelId"][0]


def test_a_timeout_above_the_tier_cap_names_the_cap(api, tenant_key):
    _, key = tenant_key(Tier.STARTER)
    response = api(key).post("/dispatch", BODY | {"timeoutSeconds": 601})
    assert (
        response.status_code == 400
        and "600" in response.json()["error"]["details"]["timeoutSeconds"][0]
    )


def test_an_agent_without_a_command_is_not_available(api, tenant_key):
    _, key = tenant_key()
    response = api(key).post("/dispatch", BODY | {"agent": "grok"})
    assert (
        response.status_code == 400
        and "not available" in response.json()["error"]["details"]["agent"][0]
    )


@pytest.mark.parametrize("raw", ['{"agent": "claude",', "[1, 2]", "null"])
def test_malformed_json_is_a_400(client, tenant_key, raw):
    _, key = tenant_key()
    response = client.post("/dispatch", raw, content_type="application/json", HTTP_X_API_KEY=key)
    assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_a_body_nested_too_deeply_to_parse_is_a_400(client, tenant_key):
    _, key = tenant_key()
    raw = '{"a": ' * 100_000 + "1" + "}" * 100_000
    response = client.post("/dispatch", raw, content_type="application/json", HTTP_X_API_KEY=key)
    assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_a_body_over_the_upload_limit_is_a_413_with_a_code_of_its_own(client, tenant_key, settings):
    _, key = tenant_key()
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    raw = json.dumps(BODY | {"task": "x" * 200_000})
    response = client.post("/dispatch", raw, content_type="application/json", HTTP_X_API_KEY=key)
    assert response.status_code == 413 and response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_too_many_query_parameters_are_a_400(api, tenant_key):
    _, key = tenant_key()
    response = api(key).get("/api/v1/dispatches?" + "a&" * 1100)
    assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_each_route_needs_its_scope(api, make_tenant, actor):
    tenant, owner = make_tenant()
    limited = services_key(tenant.tenant_id, (Scope.STATUS,), actor)
    assert api(limited).post("/dispatch", BODY).status_code == 403
    assert api(limited).get("/api/v1/dispatches").status_code == 403
    dispatch_id = api(owner.raw).post("/dispatch", BODY).json()["data"]["dispatchId"]
    assert api(limited).get(f"/dispatch/{dispatch_id}").status_code == 200
    assert api(limited).delete(f"/dispatch/{dispatch_id}").status_code == 403
    admin = services_key(tenant.tenant_id, (Scope.ADMIN,), actor)
    assert api(admin).delete(f"/dispatch/{dispatch_id}").status_code == 200


def services_key(tenant_id, scopes, actor):
    from tenants.services import key_create

    return key_create(
        tenant_id=tenant_id, name="k", scopes=scopes, expires_at=None, actor=actor
    ).raw


def test_the_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {
        "/api/v1/dispatches",
        "/api/v1/dispatches/{dispatch_id}",
        "/api/v1/dispatches/{dispatch_id}/cancel",
        "/dispatch",
        "/api/v1/me",
        "/api/v1/admin/tenants",
    } <= set(paths)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content.lower()
    assert b"cdn" not in docs.content.lower()
    assert client.options("/api/docs/").status_code == 405


def test_field_errors_and_deployment_rules_are_listed_together(api, tenant_key):
    _, key = tenant_key(Tier.FREE)
    response = api(key).post("/dispatch", {"agent": "grok", "task": "short", "timeoutSeconds": 301})
    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert "not available" in details["agent"][0]
    assert "300" in details["timeoutSeconds"][0]
    assert "task" in details


@pytest.mark.parametrize(
    "path", ["/dispatch/{id}", "/api/v1/dispatches/{id}", "/api/v1/dispatches/{id}/cancel"]
)
def test_an_id_no_dispatch_can_have_is_a_404_envelope_without_a_store_call(api, tenant_key, path):
    _, key = tenant_key()
    with counting_calls() as log:
        response = api(key).get(path.format(id="x" * 300))
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    assert log.operations == []


def test_cancel_reads_the_dispatch_once_and_writes_once(api, tenant_key):
    _, key = tenant_key()
    dispatch_id = api(key).post("/dispatch", BODY).json()["data"]["dispatchId"]
    with counting_calls() as log:
        assert api(key).post(f"/api/v1/dispatches/{dispatch_id}/cancel").status_code == 200
    assert log.operations == ["GetItem", "TransactWriteItems"]


def test_an_expired_idempotency_record_that_ttl_has_not_deleted_does_not_replay(api, tenant_key):
    from outpost_admin.dynamo.tables import IDEMPOTENCY

    tenant, key = tenant_key()
    call(
        "put_item",
        TableName=IDEMPOTENCY.name,
        Item=to_item(
            {
                "idempotency_key": f"{tenant.tenant_id}#old",
                "dispatch_id": "01OLD",
                "request_hash": "x",
                "response": "{}",
                "ttl": int(utcnow().timestamp()) - 60,
            }
        ),
    )
    response = api(key).post("/api/v1/dispatches", BODY, HTTP_IDEMPOTENCY_KEY="old")
    assert response.status_code == 201 and not response.has_header("Idempotent-Replayed")
    assert response.json()["data"]["dispatchId"] != "01OLD"
