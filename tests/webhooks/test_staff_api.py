"""Staff, and keys with the operator scope, manage a tenant's webhooks through the API too
(`?tenant=`); a tenant's own key can never reach another tenant's."""

import json

import pytest

from outpost_admin.audit import audit_list
from tenants import services as tenant_services
from tenants.domain import Scope

pytestmark = pytest.mark.django_db

ENDPOINT = {"url": "https://hooks.example.com/outpost", "events": ["dispatch.failed"]}


def _post(client, path, body, **headers):
    return client.post(path, json.dumps(body), content_type="application/json", **headers)


def test_staff_create_and_list_a_tenants_endpoints_named_by_tenant(staff_client, make_tenant):
    tenant, _ = make_tenant()
    created = _post(staff_client, f"/api/v1/webhooks?tenant={tenant.tenant_id}", ENDPOINT)
    assert created.status_code == 201, created.json()
    assert created.json()["data"]["secret"].startswith("whsec_")
    listed = staff_client.get(f"/api/v1/webhooks?tenant={tenant.tenant_id}").json()["data"]
    assert [e["url"] for e in listed["items"]] == [ENDPOINT["url"]]
    (event,) = [e for e in audit_list(tenant_id=tenant.tenant_id).items if "webhook" in e.action]
    assert event.actor == "staff"


def test_staff_must_name_the_tenant_and_an_unknown_one_is_a_404(staff_client):
    missing = staff_client.get("/api/v1/webhooks")
    assert missing.status_code == 400
    assert "tenant" in missing.json()["error"]["details"]
    unknown = staff_client.get("/api/v1/webhooks?tenant=6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b")
    assert unknown.status_code == 404


def test_an_operator_key_acts_for_the_tenant_it_names(client, make_tenant, operator_key):
    home, _ = make_tenant()
    other, _ = make_tenant()
    key = operator_key(home.tenant_id).raw
    created = _post(
        client, f"/api/v1/webhooks?tenant={other.tenant_id}", ENDPOINT, HTTP_X_API_KEY=key
    )
    assert created.status_code == 201, created.json()
    theirs = client.get(f"/api/v1/webhooks?tenant={other.tenant_id}", HTTP_X_API_KEY=key)
    assert len(theirs.json()["data"]["items"]) == 1


def test_a_tenants_key_cannot_name_another_tenant(client, make_tenant, actor):
    mine, _ = make_tenant()
    other, _ = make_tenant()
    key = tenant_services.key_create(
        tenant_id=mine.tenant_id,
        name="hooks",
        scopes=(Scope.WEBHOOKS,),
        expires_at=None,
        actor=actor,
    ).raw
    assert (
        client.get(f"/api/v1/webhooks?tenant={mine.tenant_id}", HTTP_X_API_KEY=key).status_code
        == 200
    )
    refused = client.get(f"/api/v1/webhooks?tenant={other.tenant_id}", HTTP_X_API_KEY=key)
    assert refused.status_code == 404
