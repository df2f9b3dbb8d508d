import threading
from datetime import datetime, timedelta

import pytest
from django.test import Client

from dispatches import storage
from dispatches.domain import DispatchStatus
from outpost_admin.dynamo import call, counting_calls, to_item
from outpost_admin.dynamo.tables import DISPATCHES
from tenants import storage as tenant_storage
from tenants.domain import Tier

from .conftest import BODY


def test_it_creates_a_pending_dispatch_with_the_stored_shape(api, tenant_key):
    tenant, key = tenant_key()
    response = api(key).post("/api/v1/dispatches", {**BODY, "tags": ["nightly"]})
    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    assert data["status"] == "pending" and data["agent"] == "claude"
    assert data["modelId"] == "claude-opus-4-5-20251101"
    stored = storage.dispatch_get(data["dispatchId"])
    assert stored.status == DispatchStatus.PENDING and stored.tenant_id == tenant.tenant_id
    assert stored.version == 1 and stored.repo == "acme/widgets"
    assert stored.tags == {"nightly": ""} and stored.origin == "outpost-admin"
    assert tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs == 1


def test_tags_are_a_map_of_strings_stored_and_returned_as_such(api, tenant_key):
    _, key = tenant_key()
    tags = {"team": "web", "ticket": "OPS-12", "flag": ""}
    response = api(key).post("/api/v1/dispatches", {**BODY, "tags": tags})
    assert response.status_code == 201, response.json()
    dispatch_id = response.json()["data"]["dispatchId"]
    item = call("get_item", TableName=DISPATCHES.name, Key=to_item({"dispatch_id": dispatch_id}))
    assert item["Item"]["tags"] == {"M": {k: {"S": v} for k, v in tags.items()}}
    detail = api(key).get(f"/api/v1/dispatches/{dispatch_id}").json()["data"]
    assert detail["tags"] == tags


def test_tags_that_are_not_strings_are_a_400_naming_the_field(api, tenant_key):
    _, key = tenant_key()
    for tags in ({"n": {"nested": 1}}, [1, 2], "x", {"": "empty name"}):
        response = api(key).post("/api/v1/dispatches", {**BODY, "tags": tags})
        assert response.status_code == 400 and "tags" in response.json()["error"]["details"]


@pytest.mark.parametrize(
    "name",
    ["bell\x07", "del\x7f", "next-line\x85", "\u202eevil", "zero\u200bwidth", "   ", "\u3000"],
)
def test_a_tag_name_with_a_control_character_or_only_spaces_is_a_400_naming_tags(
    api, tenant_key, name
):
    _, key = tenant_key()
    for tags in ({name: "v"}, [name]):
        response = api(key).post("/api/v1/dispatches", {**BODY, "tags": tags})
        assert response.status_code == 400, response.content
        assert "tags" in response.json()["error"]["details"]


def test_a_tag_name_with_spaces_inside_and_any_script_is_accepted(api, tenant_key):
    _, key = tenant_key()
    tags = {"team web": "", " padded ": "", "équipe": "", "チーム": ""}
    assert api(key).post("/api/v1/dispatches", {**BODY, "tags": tags}).status_code == 201


def test_an_omitted_timeout_is_the_default_capped_at_the_tiers_maximum(api, tenant_key):
    _, key = tenant_key(Tier.FREE)  # free: at most 300 s, below the default 600
    response = api(key).post("/api/v1/dispatches", BODY)
    assert response.status_code == 201, response.json()
    stored = storage.dispatch_get(response.json()["data"]["dispatchId"])
    assert stored.timeout_seconds == 300
    explicit = api(key).post("/api/v1/dispatches", {**BODY, "timeoutSeconds": 600})
    assert explicit.status_code == 400


def test_twenty_concurrent_creates_on_a_free_tier_give_one_201(tenant_key):
    tenant, key = tenant_key(Tier.FREE)
    statuses = []
    barrier = threading.Barrier(20)

    def create():
        barrier.wait()
        response = Client().post(
            "/dispatch",
            BODY | {"timeoutSeconds": 60},
            content_type="application/json",
            HTTP_X_API_KEY=key,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=create) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [429] * 19
    assert tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs == 1


def test_a_happy_create_makes_at_most_two_calls_with_a_warm_cache(api, tenant_key):
    _, key = tenant_key()
    api(key).get("/api/v1/me")
    with counting_calls() as log:
        response = api(key).post("/api/v1/dispatches", BODY, HTTP_IDEMPOTENCY_KEY="abc-1")
    assert response.status_code == 201
    assert log.operations == ["TransactWriteItems"]


def test_cancel_releases_the_slot_once(api, tenant_key):
    tenant, key = tenant_key()
    dispatch_id = api(key).post("/api/v1/dispatches", BODY).json()["data"]["dispatchId"]
    assert api(key).post(f"/api/v1/dispatches/{dispatch_id}/cancel").status_code == 200
    second = api(key).delete(f"/dispatch/{dispatch_id}")
    assert second.status_code == 409 and second.json()["error"]["details"]["status"] == "cancelled"
    assert tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs == 0


def test_dispatch_ids_are_ulids_with_fresh_randomness_in_the_same_millisecond(monkeypatch):
    from itertools import pairwise

    from ulid import ULID

    from dispatches.lifecycle import new_dispatch_id

    monkeypatch.setattr("dispatches.lifecycle.time.time_ns", lambda: 1_800_000_000_000_000_000)
    ids = [ULID.from_str(new_dispatch_id()) for _ in range(50)]
    assert len({u.timestamp for u in ids}) == 1
    randomness = sorted(int.from_bytes(u.bytes[6:], "big") for u in ids)
    assert all(b - a > 1 for a, b in pairwise(randomness))


def test_the_stored_item_uses_the_control_planes_attribute_names(api, tenant_key):
    from outpost_admin.dynamo import call, from_item, to_item
    from outpost_admin.dynamo.tables import DISPATCHES

    tenant, key = tenant_key()
    data = api(key).post("/dispatch", BODY | {"timeoutSeconds": 900}).json()["data"]
    item = from_item(
        call(
            "get_item", TableName=DISPATCHES.name, Key=to_item({"dispatch_id": data["dispatchId"]})
        )["Item"]
    )
    assert (
        item["user_id"] == tenant.tenant_id and item["status"] == "PENDING" and item["version"] == 1
    )
    assert item["started_at"] == data["createdAt"] and item["started_at"].endswith("Z")
    assert item["model_id"] == "claude-opus-4-5-20251101" and item["timeout_seconds"] == 900
    assert item["branch"] == "main" and item["api_key_id"]
    created = datetime.fromisoformat(item["started_at"].replace("Z", "+00:00"))
    assert item["expires_at"] == int((created + timedelta(days=90)).timestamp())
    assert "ended_at" not in item and "exit_code" not in item  # absent, not null


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timeoutSeconds": "600"}, "timeoutSeconds"),
        ({"timeoutSeconds": 600.5}, "timeoutSeconds"),
        ({"timeoutSeconds": True}, "timeoutSeconds"),
        ({"task": 12345678901}, "task"),
        ({"modelId": "gpt-5.1-codex"}, "modelId"),
        ({"modelId": ""}, "modelId"),
        ({"branch": "main\n"}, "branch"),
        ({"tags": [""]}, "tags"),
        ({"tags": {"x" * 65: "too long a name"}}, "tags"),
        ({"tags": ["same"] * 21}, "tags"),  # maxItems counts before duplicates fold
        ({"tags": {"nul": "a\x00b"}}, "tags"),
        ({"task": "Fix the \x00 failing test"}, "task"),
        ({"idempotencyKey": "has space"}, "idempotencyKey"),
    ],
)
def test_a_dispatch_body_that_breaks_the_schema_is_a_400(api, tenant_key, change, field):
    _, key = tenant_key()
    body = {"agent": "claude", "task": "Fix the failing test", **change}
    response = api(key).post("/api/v1/dispatches", body)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]


def test_an_integral_number_is_an_integer_as_the_schema_reads_it(api, tenant_key):
    """JSON Schema (OpenAPI 3.1) and JavaScript take 600.0 as the integer 600."""
    _, key = tenant_key()
    response = api(key).post("/api/v1/dispatches", BODY | {"timeoutSeconds": 600.0})
    assert response.status_code == 201, response.content
    assert storage.dispatch_get(response.json()["data"]["dispatchId"]).timeout_seconds == 600
