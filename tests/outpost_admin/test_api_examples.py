"""The API docs' examples are true (issue 14, bug 11): each request example, sent to a live
server as "Try it out" sends it, gets the operation's documented success status; no error
example says `"success": true`; no example date is made up."""

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from outpost_admin.dynamo.tables import create_tables, delete_tables
from tenants import services
from tenants.domain import TENANT_SCOPES, Scope

# The order the operations run in: each id a later one needs exists by then (a dispatch is
# read, then cancelled, then run again). A new operation must be placed here.
ORDER = [
    "me",
    "budget_get",
    "key_budget_lower",
    "admin_tenant_list",
    "admin_tenant_create",
    "admin_tenant_get",
    "admin_tenant_update",
    "admin_key_list",
    "admin_key_create",
    "admin_key_revoke",
    "admin_budget_get",
    "admin_budget_set",
    "admin_key_budget_set",
    "admin_key_rotate",
    "admin_usage_get",
    "dispatch_create",
    "dispatch_list",
    "dispatch_get",
    "dispatch_cancel",
    "dispatch_rerun",
    "usage_get",
    "webhook_create",
    "webhook_list",
    "webhook_get",
    "webhook_update",
    "webhook_send_test",
    "webhook_delivery_list",
    "webhook_delivery_get",
    "webhook_delivery_resend",
    "webhook_recover",
    "webhook_rotate_secret",
    "webhook_callback_secret_rotate",
    "webhook_notifications_get",
    "webhook_notifications_set",
    "webhook_delete",
    "legacy_dispatch_create",
    "legacy_dispatch_get",
    "legacy_dispatch_cancel",
]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {
        op["operationId"]: (method.upper(), path, op)
        for path, methods in schema["paths"].items()
        for method, op in methods.items()
    }


@pytest.fixture
def own_tables(settings):
    """Tables of this test's own, so the examples' fixed names and e-mails meet no earlier run."""
    settings.DYNAMODB_TABLE_PREFIX = "examples"
    settings.DYNAMODB_TENANTS_TABLE = "examples-tenants"
    settings.DYNAMODB_API_KEYS_TABLE = "examples-api-keys"
    settings.DYNAMODB_AUDIT_TABLE = "examples-audit"
    create_tables(log=lambda _: None)
    yield
    delete_tables()


def send(base: str, method: str, path: str, key: str, query: dict, body: Any) -> tuple[int, Any]:
    url = base + path + ("?" + urllib.parse.urlencode(query) if query else "")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("X-API-Key", key)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_every_operation_has_a_request_example_and_error_examples_that_say_false(schema):
    assert sorted(operations(schema)) == sorted(ORDER)
    for operation_id, (_, _, op) in operations(schema).items():
        if "requestBody" in op:
            media = op["requestBody"]["content"]["application/json"]
            assert media.get("examples"), operation_id
        for status, response in op["responses"].items():
            media = response.get("content", {}).get("application/json", {})
            if int(status) >= 400:
                assert media.get("examples"), (operation_id, status)
                for example in media["examples"].values():
                    assert example["value"]["success"] is False, (operation_id, status)
    assert "0004-" not in json.dumps(schema)


def test_each_request_example_gets_the_documented_status_from_a_live_server(
    schema, live_server, own_tables, make_tenant, operator_key, actor, settings
):
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": ["true"]})
    tenant, _ = make_tenant(name="Examples Co")
    operator = operator_key(tenant.tenant_id).raw
    key = services.key_create(
        tenant_id=tenant.tenant_id,
        name="examples",
        scopes=tuple(TENANT_SCOPES),
        expires_at=None,
        actor=actor,
    ).raw
    spare = [
        services.key_create(
            tenant_id=tenant.tenant_id, name=f"spare-{n}", scopes=(), expires_at=None, actor=actor
        ).key.api_key_id
        for n in range(2)
    ]
    admin = services.key_create(
        tenant_id=tenant.tenant_id,
        name="admin",
        scopes=(Scope.ADMIN,),
        expires_at=None,
        actor=actor,
    ).raw  # a tenant's own admin key: it lowers its keys' budgets
    ids = {"tenant_id": tenant.tenant_id, "key_id": spare[0]}
    for operation_id in ORDER:
        method, path, op = operations(schema)[operation_id]
        if operation_id == "admin_key_rotate":
            ids["key_id"] = spare[1]
        for name, value in ids.items():
            path = path.replace("{" + name + "}", value)
        query = {
            p["name"]: p["example"]
            for p in op.get("parameters", [])
            if "example" in p and p["in"] == "query"
        }
        body = None
        if "requestBody" in op:
            (example,) = op["requestBody"]["content"]["application/json"]["examples"].values()
            body = example["value"]
        documented = min(int(s) for s in op["responses"] if s.startswith("2"))
        caller = operator if operation_id.startswith("admin_") else key
        if operation_id == "key_budget_lower":
            caller = admin
        status, answer = send(live_server.url, method, path, caller, query, body)
        assert status == documented, (operation_id, status, answer)
        if operation_id in ("dispatch_create", "legacy_dispatch_create"):
            ids["dispatch_id"] = answer["data"]["dispatchId"]
        if operation_id == "webhook_create":
            ids["endpoint_id"] = answer["data"]["endpointId"]
        if operation_id == "webhook_send_test":
            ids["event_id"] = answer["data"]["eventId"]
