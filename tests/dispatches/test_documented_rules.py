"""The rules the schema can state only in words are stated, with an example of the error body,
and each example is exactly what the code answers (requestId and timestamp aside)."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from .conftest import BODY

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def example(schema, path, method, status, name):
    answer = schema["paths"][path][method]["responses"][str(status)]
    return answer["content"]["application/json"]["examples"][name]["value"]["error"]


def parameter(schema, path, method, name):
    params = schema["paths"][path][method]["parameters"]
    return next(p for p in params if p["name"] == name)


def test_a_cursor_we_did_not_issue_is_the_documented_400(schema, api, tenant_key):
    _, key = tenant_key()
    response = api(key).get("/api/v1/dispatches?cursor=made-up")
    assert response.status_code == 400
    assert response.json()["error"] == example(
        schema, "/api/v1/dispatches", "get", 400, "BadCursor"
    )
    assert (
        "Only a cursor this API issued"
        in parameter(schema, "/api/v1/dispatches", "get", "cursor")["description"]
    )


def test_an_admin_tenant_list_cursor_we_did_not_issue_is_the_documented_400(schema, staff_client):
    response = staff_client.get("/api/v1/admin/tenants?cursor=made-up")
    assert response.status_code == 400
    assert response.json()["error"] == example(
        schema, "/api/v1/admin/tenants", "get", 400, "BadCursor"
    )


def test_since_without_until_is_the_documented_400(schema, api, tenant_key):
    _, key = tenant_key()
    response = api(key).get("/api/v1/usage?since=2026-01-01")
    assert response.status_code == 400
    assert response.json()["error"] == example(
        schema, "/api/v1/usage", "get", 400, "RangeNeedsBothEnds"
    )
    assert "Needs `until`" in parameter(schema, "/api/v1/usage", "get", "since")["description"]


def test_a_reused_idempotency_key_with_another_body_is_the_documented_422(schema, api, tenant_key):
    _, key = tenant_key()
    first = api(key).post("/api/v1/dispatches", {**BODY, "idempotencyKey": "k-1"})
    assert first.status_code == 201
    again = api(key).post(
        "/api/v1/dispatches", {**BODY, "task": "Another task", "idempotencyKey": "k-1"}
    )
    assert again.status_code == 422
    assert again.json()["error"] == example(
        schema, "/api/v1/dispatches", "post", 422, "IdempotencyMismatch"
    )


def test_header_and_body_idempotency_keys_that_differ_are_the_documented_400(
    schema, api, tenant_key
):
    _, key = tenant_key()
    body = {**BODY, "idempotencyKey": "body-key"}
    response = api(key).post("/api/v1/dispatches", body, HTTP_IDEMPOTENCY_KEY="header-key")
    assert response.status_code == 400
    assert response.json()["error"] == example(
        schema, "/api/v1/dispatches", "post", 400, "IdempotencyKeysDiffer"
    )
    header = parameter(schema, "/api/v1/dispatches", "post", "Idempotency-Key")
    assert "must be equal" in header["description"]
