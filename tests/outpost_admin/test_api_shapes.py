"""The schema is the code: what the OpenAPI document promises is what the API checks and answers."""

import json
import re

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from outpost_admin.audit import audit_list
from outpost_admin.validation import VISIBLE_NAME
from tenants import storage
from tests.conftest import unique_email

TENANTS = "/api/v1/admin/tenants"


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def component(schema, name):
    return schema["components"]["schemas"][name]


def operation(schema, path, method):
    return schema["paths"][path][method]


def query_parameter(schema, path, name):
    params = operation(schema, path, "get")["parameters"]
    return next(p["schema"] for p in params if p["name"] == name)


def post_json(client, url, body, **headers):
    return client.post(url, json.dumps(body), content_type="application/json", headers=headers)


# --- the schema states every constraint --------------------------------------------------------


def test_names_and_scopes_may_not_be_blank_in_the_schema(schema):
    tenant = component(schema, "TenantInput")["properties"]
    key = component(schema, "KeyInput")["properties"]
    assert tenant["name"]["pattern"].startswith("^[^") and tenant["name"]["maxLength"] == 200
    assert key["name"]["pattern"] == tenant["name"]["pattern"]
    assert key["scopes"]["minItems"] == 1
    assert component(schema, "KeyInput")["required"] == ["name", "scopes"]


def test_each_agent_has_its_own_model_enum(schema):
    claude = component(schema, "ClaudeDispatchInput")["properties"]
    assert component(schema, claude["agent"]["$ref"].split("/")[-1])["enum"] == ["claude"]
    models = component(schema, claude["modelId"]["allOf"][0]["$ref"].split("/")[-1])["enum"]
    assert "claude-opus-4-5-20251101" in models and "gpt-5.1-codex" not in models
    request = operation(schema, "/api/v1/dispatches", "post")["requestBody"]
    body = request["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/DispatchInput"}
    assert component(schema, "DispatchInput")["discriminator"]["propertyName"] == "agent"


def test_list_filters_are_enums_and_the_cursor_is_described(schema):
    agent = query_parameter(schema, "/api/v1/dispatches", "agent")
    tier = query_parameter(schema, TENANTS, "tier")
    cursor = query_parameter(schema, "/api/v1/dispatches", "cursor")
    assert agent["enum"] == ["claude", "codex", "gemini", "aider", "grok"]
    assert tier["enum"] == ["free", "starter", "pro", "enterprise"]
    assert cursor["pattern"] == "^[A-Za-z0-9_.:-]{1,1000}$"
    params = operation(schema, "/api/v1/dispatches", "get")["parameters"]
    assert "Opaque" in next(p for p in params if p["name"] == "cursor")["description"]


def test_the_schema_is_openapi_3_1_so_it_can_state_tag_names(schema):
    assert schema["openapi"] == "3.1.0"
    tags = component(schema, "ClaudeDispatchInput")["properties"]["tags"]["oneOf"]
    as_map, as_list = tags
    names = as_map["propertyNames"]
    assert (names["type"], names["minLength"], names["maxLength"]) == ("string", 1, 64)
    assert names["pattern"] == VISIBLE_NAME  # not blank, no control or format character
    assert as_map["maxProperties"] == 20 and as_map["additionalProperties"]["maxLength"] == 256
    assert as_list["maxItems"] == 20 and as_list["items"] == as_map["propertyNames"]


def test_the_nul_the_code_refuses_is_a_pattern_in_the_schema(schema):
    task = component(schema, "ClaudeDispatchInput")["properties"]["task"]
    assert task["pattern"] == "^[^\\u0000]*$"
    assert re.fullmatch(task["pattern"], "no NUL here") and not re.search(task["pattern"], "a\x00b")


def test_a_date_time_input_states_its_shape_as_a_pattern_not_only_a_format(schema):
    """In OpenAPI 3.1 a format is an annotation: "" would be a valid expiresAt."""
    expires = component(schema, "KeyInput")["properties"]["expiresAt"]
    assert expires["format"] == "date-time"
    pattern = re.compile(expires["pattern"])
    assert pattern.fullmatch("2026-11-27T16:33:11.015Z")
    assert pattern.fullmatch("2026-11-27t16:33:11+01:00")
    for refused in ("", "2026-11-27", "2026-13-01T00:00:00Z", "0000-01-01T00:00:00Z"):
        assert not pattern.fullmatch(refused)


def test_a_blank_tenant_search_matches_exactly_one_branch_and_is_accepted(schema, staff_client):
    text, blank = query_parameter(schema, TENANTS, "search")["oneOf"]
    assert not re.fullmatch(text["pattern"], "") and blank == {"type": "string", "maxLength": 0}
    assert staff_client.get(TENANTS, {"search": ""}).status_code == 200


def test_every_error_an_operation_returns_is_documented(schema):
    create = operation(schema, TENANTS, "post")["responses"]
    assert {"400", "401", "403", "409", "429", "503"} <= set(create)
    assert create["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEnvelope"
    }
    dispatch = operation(schema, "/api/v1/dispatches", "post")["responses"]
    assert {"400", "409", "422", "429", "503"} <= set(dispatch)
    assert "404" in operation(schema, "/api/v1/dispatches/{dispatch_id}", "get")["responses"]


def test_a_success_envelope_wraps_the_output_serializer(schema):
    created = component(schema, "DispatchCreatedEnvelope")["properties"]
    assert created["data"] == {"$ref": "#/components/schemas/DispatchCreated"}
    assert created["meta"] == {"$ref": "#/components/schemas/Meta"}


# --- the code checks what the schema says ------------------------------------------------------


def test_a_duplicate_email_is_the_documented_409(staff_client, make_tenant):
    tenant, _ = make_tenant()
    response = post_json(staff_client, TENANTS, {"name": "Copy", "email": tenant.email})
    assert response.status_code == 409
    assert response.json()["error"]["details"] == {
        "email": ["A tenant with this email already exists."]
    }


@pytest.mark.parametrize(
    "name",
    ["Acme\nEvil", "Acme\rEvil", "Acme\x00", "Acme\u2028Evil", "Tab\there", " Acme", "Acme ", ""],
)
def test_a_tenant_name_with_control_characters_or_line_breaks_is_refused(staff_client, name):
    email = unique_email()
    response = post_json(staff_client, TENANTS, {"name": name, "email": email})
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["name"]
    assert storage.tenant_id_by_email(email) is None


def test_the_provision_form_refuses_a_name_with_a_line_break(staff_client):
    email = unique_email()
    response = staff_client.post("/tenants/new/", {"name": "Acme\nEvil", "email": email})
    assert response.status_code == 400
    assert "one line of printable text" in response.content.decode()
    assert storage.tenant_id_by_email(email) is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 0}, "name"),
        ({"name": "Acme", "tier": 1}, "tier"),
        ({"name": "Acme", "email": ["a@example.com"]}, "email"),
    ],
)
def test_values_of_the_wrong_type_are_not_coerced(staff_client, body, field):
    response = post_json(staff_client, TENANTS, {"email": unique_email(), **body})
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_a_request_id_with_a_line_break_is_replaced_not_echoed_or_audited(staff_client):
    email = unique_email()
    response = staff_client.post(
        TENANTS,
        json.dumps({"name": "Traced", "email": email}),
        content_type="application/json",
        HTTP_X_REQUEST_ID="trace-1\n",
    )
    assert response.status_code == 201
    request_id = response["X-Request-ID"]
    assert request_id != "trace-1\n" and len(request_id) == 36
    tenant_id = response.json()["data"]["tenant"]["tenantId"]
    assert [e.request_id for e in audit_list(tenant_id=tenant_id).items] == [request_id]


def test_an_overlong_request_id_is_replaced(client):
    response = Client().get("/health/live", HTTP_X_REQUEST_ID="a" * 65)
    assert response["X-Request-ID"] != "a" * 65
