"""Issue 6, points 1 and 2: keys and tenants mean the same on both sides."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from outpost_admin import audit
from outpost_admin.dynamo import call, counting_calls, iso, to_item, utcnow, values
from outpost_admin.dynamo.tables import API_KEYS
from tenants import services, storage
from tenants.domain import Scope, TenantStatus, Tier

from . import control_plane as cp

TENANTS = "/api/v1/admin/tenants"


def suspend(tenant_id, actor):
    services.tenant_set_status(tenant_id=tenant_id, status=TenantStatus.SUSPENDED, actor=actor)


def reactivate(tenant_id, actor):
    services.tenant_set_status(tenant_id=tenant_id, status=TenantStatus.ACTIVE, actor=actor)


# --- point 1: authority -------------------------------------------------------------------


def test_a_control_plane_admin_key_is_a_wildcard_in_its_tenant_and_nothing_more(make_tenant):
    tenant, _ = make_tenant()
    raw, _ = cp.create_key(tenant.tenant_id, ["admin"])
    headers = {"X-API-Key": raw}
    assert Client().get(TENANTS, headers=headers).status_code == 403
    assert Client().get("/api/v1/dispatches", headers=headers).status_code == 200
    status, _, key = cp.authenticate(raw)
    assert status == 200 and cp.require_scope(key, "cancel")


def test_an_operator_key_made_here_passes_the_control_planes_checks(make_tenant, operator_key):
    tenant, _ = make_tenant()
    issued = operator_key(tenant.tenant_id)
    status, _, key = cp.authenticate(issued.raw)
    assert status == 200 and key["scopes"] == ["operator"]
    # ...where it grants nothing of a tenant's own (it names no dispatch scope, nor admin).
    assert not cp.require_scope(key, "dispatch")
    assert Client().get(TENANTS, headers={"X-API-Key": issued.raw}).status_code == 200


def test_provision_tenant_with_operator_gives_the_first_key_the_scope_and_audits_it():
    out = StringIO()
    call_command("provision_tenant", "Ops Inc", "ops@example.org", "--operator", stdout=out)
    lines = dict(line.split("=", 1) for line in out.getvalue().split())
    status, _, key = cp.authenticate(lines["OUTPOST_API_KEY"])
    assert status == 200 and "operator" in key["scopes"]
    (event,) = audit.audit_list(tenant_id=lines["OUTPOST_TENANT_ID"]).items
    assert "operator" in event.metadata["scopes"]


# --- point 2: suspension reaches the control plane --------------------------------------------


def test_suspension_makes_every_active_key_fail_the_control_planes_check(make_tenant, actor):
    tenant, issued = make_tenant()
    raw_cp, _ = cp.create_key(tenant.tenant_id, ["dispatch"])
    assert cp.authenticate(issued.raw)[0] == 200 and cp.authenticate(raw_cp)[0] == 200
    suspend(tenant.tenant_id, actor)
    for raw in (issued.raw, raw_cp):
        status, message, key = cp.authenticate(raw)
        assert (status, message) == (401, "API key is revoked")  # its ordinary 401, never a 400
        assert key is not None and key["status"] in ("active", "revoked", "expired")
    assert cp.get_tenant(tenant.tenant_id)["status"] == "suspended"
    me = Client().get("/api/v1/me", headers={"X-API-Key": raw_cp})
    assert me.status_code == 401 and "suspended" in me.json()["error"]["message"]


def test_reactivation_restores_exactly_the_keys_the_suspension_changed(make_tenant, actor):
    tenant, issued = make_tenant()
    already_revoked, _ = cp.create_key(tenant.tenant_id, ["dispatch"], name="old")
    revoked_between, revoked_item = cp.create_key(tenant.tenant_id, ["dispatch"], name="between")
    kept, _ = cp.create_key(tenant.tenant_id, ["status"], name="kept")
    old_id = cp.authenticate(already_revoked)[2]["apiKeyId"]
    services.key_revoke(tenant_id=tenant.tenant_id, api_key_id=old_id, actor=actor)
    suspend(tenant.tenant_id, actor)
    services.key_revoke(
        tenant_id=tenant.tenant_id, api_key_id=revoked_item["apiKeyId"], actor=actor
    )
    reactivate(tenant.tenant_id, actor)
    assert cp.authenticate(issued.raw)[0] == 200
    assert cp.authenticate(kept)[0] == 200
    assert cp.authenticate(already_revoked)[:2] == (401, "API key is revoked")
    assert cp.authenticate(revoked_between)[:2] == (401, "API key is revoked")


def test_a_key_that_expired_while_suspended_comes_back_expired(make_tenant, actor):
    tenant, _ = make_tenant()
    soon = utcnow().replace(microsecond=0)
    issued = services.key_create(
        tenant_id=tenant.tenant_id,
        name="short",
        scopes=(Scope.STATUS,),
        expires_at=soon.replace(year=soon.year + 1),
        actor=actor,
    )
    suspend(tenant.tenant_id, actor)
    call(
        "update_item",
        TableName=API_KEYS.name,
        Key=to_item({"apiKeyId": issued.key.api_key_id}),
        UpdateExpression="SET expiresAt = :past",
        ExpressionAttributeValues=values({":past": iso(soon.replace(year=soon.year - 1))}),
    )
    reactivate(tenant.tenant_id, actor)
    assert cp.authenticate(issued.raw)[:2] == (401, "API key is expired")


def test_key_lists_show_a_suspended_key_as_suspended_with_its_tenant(
    make_tenant, actor, staff_client
):
    tenant, _ = make_tenant()
    suspend(tenant.tenant_id, actor)
    (key,) = storage.keys_for_tenant(tenant.tenant_id)
    assert key.state(utcnow()) == "suspended with its tenant"
    page = staff_client.get(f"/tenants/{tenant.tenant_id}/")
    assert "suspended with its tenant" in page.content.decode()
    api = staff_client.get(f"{TENANTS}/{tenant.tenant_id}/keys").json()["data"]["items"]
    assert api[0]["status"] == "revoked" and api[0]["suspendedWithTenant"] is True
    reactivate(tenant.tenant_id, actor)
    (key,) = storage.keys_for_tenant(tenant.tenant_id)
    assert key.state(utcnow()) == "active" and not key.suspended_with_tenant


def test_suspension_and_the_keys_change_in_one_transaction(make_tenant, actor):
    tenant, _ = make_tenant()
    cp.create_key(tenant.tenant_id, ["dispatch"])
    with counting_calls() as log:
        suspend(tenant.tenant_id, actor)
    assert log.by_operation()["TransactWriteItems"] == 1


@pytest.mark.parametrize("tier", [Tier.FREE])
def test_a_suspended_tenant_cannot_dispatch_here_either(make_tenant, actor, tier):
    tenant, issued = make_tenant(tier=tier)
    suspend(tenant.tenant_id, actor)
    body = {"agent": "claude", "task": "Fix the failing test in utils.py"}
    response = Client().post(
        "/api/v1/dispatches", body, content_type="application/json", HTTP_X_API_KEY=issued.raw
    )
    assert response.status_code == 401
