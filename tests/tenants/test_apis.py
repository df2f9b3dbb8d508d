"""The admin API under /api/v1/admin/: who may call it, what it answers, what it records."""

import uuid
from datetime import timedelta

import pytest
from django.test import Client

from outpost_admin import audit
from outpost_admin.dynamo import call, iso, parse_iso, to_item, utcnow
from outpost_admin.dynamo.tables import API_KEYS
from tenants import keys, services, storage
from tenants.domain import KeyStatus, Scope, TenantStatus
from tests.conftest import another_admin_edits_first, unique_email

TENANTS = "/api/v1/admin/tenants"


def tenant_url(tenant_id):
    return f"{TENANTS}/{tenant_id}"


def keys_url(tenant_id):
    return f"{TENANTS}/{tenant_id}/keys"


def key_url(tenant_id, key_id, action):
    return f"{TENANTS}/{tenant_id}/keys/{key_id}/{action}"


def post_json(client, url, data, **headers):
    return client.post(url, data, content_type="application/json", headers=headers)


def patch_json(client, url, data, **headers):
    return client.patch(url, data, content_type="application/json", headers=headers)


def error_of(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == code
    assert body["meta"]["requestId"] == response["X-Request-ID"]
    return body["error"]


def data_of(response, status=200):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is True
    assert body["meta"]["requestId"] == response["X-Request-ID"]
    return body["data"]


def actions_of(tenant_id):
    return [e.action for e in audit.audit_list(tenant_id=tenant_id).items]


@pytest.fixture
def admin_key(make_tenant, operator_key):
    """A key with the operator scope (granted by staff): the admin API over every tenant."""
    tenant, _ = make_tenant(name="Operators")
    issued = operator_key(tenant.tenant_id)
    return issued.raw


@pytest.fixture
def key_client(admin_key):
    return Client(headers={"X-API-Key": admin_key})


# --- who may call it --------------------------------------------------------------------------


def test_it_answers_401_to_anonymous_callers(client):
    error = error_of(client.get(TENANTS), 401, "AUTHENTICATION_ERROR")
    assert error["message"]


def test_it_answers_403_to_a_key_without_the_operator_scope(client, make_tenant):
    _, issued = make_tenant()
    response = client.get(TENANTS, headers={"X-API-Key": issued.raw})
    error = error_of(response, 403, "AUTHORIZATION_ERROR")
    assert "operator" in error["message"]


def test_an_admin_key_is_a_wildcard_within_its_tenant_not_over_other_tenants(
    client, make_tenant, actor
):
    # `admin` means every scope of its own tenant, as the control plane reads it.
    tenant, _ = make_tenant()
    issued = services.key_create(
        tenant_id=tenant.tenant_id, name="all", scopes=(Scope.ADMIN,), expires_at=None, actor=actor
    )
    headers = {"X-API-Key": issued.raw}
    error_of(client.get(TENANTS, headers=headers), 403, "AUTHORIZATION_ERROR")
    assert client.get("/api/v1/dispatches", headers=headers).status_code == 200


def test_only_staff_grant_the_operator_scope(make_tenant, actor, key_client, staff_client):
    tenant, _ = make_tenant()
    with pytest.raises(services.ServiceError):
        services.key_create(
            tenant_id=tenant.tenant_id,
            name="x",
            scopes=(Scope.OPERATOR,),
            expires_at=None,
            actor=actor,
        )
    body = {"name": "ops", "scopes": ["operator"]}
    response = post_json(key_client, keys_url(tenant.tenant_id), body)
    assert error_of(response, 400, "VALIDATION_ERROR")["details"]["scopes"]
    created = data_of(post_json(staff_client, keys_url(tenant.tenant_id), body), 201)
    assert created["scopes"] == ["operator"]
    (event, *_) = audit.audit_list(tenant_id=tenant.tenant_id, action="key.create").items
    assert event.metadata["scopes"] == ["operator"]


def test_it_answers_403_to_a_signed_in_user_who_is_not_staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("tenant-user", password="pw-1"))
    error_of(client.get(TENANTS), 403, "AUTHORIZATION_ERROR")


def test_it_accepts_a_key_with_the_operator_scope(key_client):
    assert "items" in data_of(key_client.get(TENANTS))


def test_it_accepts_an_operator_key_as_a_bearer_token(client, admin_key):
    response = client.get(TENANTS, headers={"Authorization": f"Bearer {admin_key}"})
    data_of(response)


def test_a_key_needs_no_csrf_token(admin_key):
    client = Client(enforce_csrf_checks=True, headers={"X-API-Key": admin_key})
    response = post_json(client, TENANTS, {"name": "No Csrf", "email": unique_email()})
    data_of(response, 201)


def test_a_staff_session_reads_without_a_csrf_token(staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    data_of(client.get(TENANTS))


def test_a_staff_session_write_without_the_csrf_token_is_refused(staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    email = unique_email()
    response = post_json(client, TENANTS, {"name": "Csrf Co", "email": email})
    error = error_of(response, 403, "AUTHORIZATION_ERROR")
    assert "CSRF" in error["message"]
    assert storage.tenant_id_by_email(email) is None


def test_a_staff_session_write_with_the_csrf_token_is_accepted(staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    client.get("/tenants/")  # any page sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = post_json(
        client, TENANTS, {"name": "Csrf Co", "email": unique_email()}, **{"X-CSRFToken": token}
    )
    data_of(response, 201)


# --- tenants ------------------------------------------------------------------------------------


def test_it_creates_a_tenant_and_returns_its_first_key_once(staff_client, client):
    email = unique_email()
    response = post_json(staff_client, TENANTS, {"name": "Api Co", "email": email, "tier": "free"})
    data = data_of(response, 201)
    assert response["Cache-Control"] == "no-store"
    tenant, key = data["tenant"], data["apiKey"]
    assert tenant["name"] == "Api Co" and tenant["email"] == email and tenant["tier"] == "free"
    assert tenant["status"] == "active"
    assert tenant["usageLimits"] == {
        "maxConcurrentJobs": 1,
        "maxJobsPerDay": 10,
        "maxJobTimeoutSeconds": 300,
    }
    assert keys.is_well_formed(key["key"]) and key["prefix"] == key["key"][:12]
    me = client.get("/api/v1/me", headers={"X-API-Key": key["key"]})
    assert me.json()["data"]["tenantId"] == tenant["tenantId"]
    # Never again: neither the tenant nor its key list carries the raw key.
    assert key["key"] not in staff_client.get(tenant_url(tenant["tenantId"])).content.decode()
    assert key["key"] not in staff_client.get(keys_url(tenant["tenantId"])).content.decode()


def test_a_new_tenant_is_on_the_pro_tier_by_default(staff_client):
    data = data_of(post_json(staff_client, TENANTS, {"name": "Pro", "email": unique_email()}), 201)
    assert data["tenant"]["tier"] == "pro"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com"}, "name"),
        ({"name": "   ", "email": "a@example.com"}, "name"),
        ({"name": "X", "email": "not-an-email"}, "email"),
        ({"name": "X"}, "email"),
        ({"name": "X", "email": "a@example.com", "tier": "platinum"}, "tier"),
    ],
)
def test_it_refuses_bad_tenant_input_naming_the_field(staff_client, body, field):
    error = error_of(post_json(staff_client, TENANTS, body), 400, "VALIDATION_ERROR")
    assert field in error["details"] and field in error["message"]


def test_a_duplicate_email_is_a_409_naming_the_field(staff_client, make_tenant):
    tenant, _ = make_tenant()
    body = {"name": "Copy", "email": tenant.email.upper()}
    error = error_of(post_json(staff_client, TENANTS, body), 409, "CONFLICT")
    assert "email" in error["details"]


def test_malformed_json_is_a_400_not_a_500(staff_client):
    response = staff_client.post(TENANTS, '{"name": "x",', content_type="application/json")
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert "Malformed" in error["message"]


def test_a_body_that_is_not_json_is_a_415_with_a_code_of_its_own(staff_client):
    response = staff_client.post(TENANTS, {"name": "x", "email": unique_email()})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_it_lists_tenants_with_search_filters_and_a_cursor(staff_client, make_tenant):
    marker = f"apilist{uuid.uuid4().hex[:8]}"
    made = [make_tenant(name=f"{marker} {i}")[0] for i in range(3)]
    first = data_of(staff_client.get(TENANTS, {"search": marker, "limit": 2}))
    assert [t["name"] for t in first["items"]] == [f"{marker} 0", f"{marker} 1"]
    second = data_of(
        staff_client.get(TENANTS, {"search": marker, "limit": 2, "cursor": first["cursor"]})
    )
    assert [t["name"] for t in second["items"]] == [f"{marker} 2"]
    assert second["cursor"] is None
    by_email = data_of(staff_client.get(TENANTS, {"search": made[1].email}))
    assert [t["tenantId"] for t in by_email["items"]] == [made[1].tenant_id]
    free = data_of(staff_client.get(TENANTS, {"search": marker, "tier": "free"}))
    assert free["items"] == []


def test_a_tampered_list_cursor_is_a_400(staff_client):
    response = staff_client.get(TENANTS, {"cursor": "not-a-cursor"})
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert "cursor" in error["details"]


def test_a_cursor_from_another_search_is_a_400(staff_client, make_tenant):
    marker = f"apicur{uuid.uuid4().hex[:8]}"
    for i in range(2):
        make_tenant(name=f"{marker} {i}")
    cursor = data_of(staff_client.get(TENANTS, {"search": marker, "limit": 1}))["cursor"]
    response = staff_client.get(TENANTS, {"search": "other", "cursor": cursor})
    error_of(response, 400, "VALIDATION_ERROR")


def test_bad_list_filters_are_a_400_naming_the_field(staff_client):
    error = error_of(staff_client.get(TENANTS, {"status": "gone"}), 400, "VALIDATION_ERROR")
    assert "status" in error["details"]


def test_it_gets_a_tenant(staff_client, make_tenant):
    tenant, _ = make_tenant(name="Get Me")
    data = data_of(staff_client.get(tenant_url(tenant.tenant_id)))
    assert data["tenantId"] == tenant.tenant_id and data["name"] == "Get Me"
    assert data["currentUsage"] == {"concurrentJobs": 0}


@pytest.mark.parametrize("tenant_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_an_unknown_tenant_is_a_404_envelope(staff_client, tenant_id):
    error_of(staff_client.get(tenant_url(tenant_id)), 404, "NOT_FOUND")
    error_of(patch_json(staff_client, tenant_url(tenant_id), {"tier": "free"}), 404, "NOT_FOUND")
    error_of(staff_client.get(keys_url(tenant_id)), 404, "NOT_FOUND")
    body = {"name": "k", "scopes": ["status"]}
    error_of(post_json(staff_client, keys_url(tenant_id), body), 404, "NOT_FOUND")


def test_it_changes_the_tier_and_the_limits_follow(staff_client, make_tenant):
    tenant, _ = make_tenant()
    data = data_of(patch_json(staff_client, tenant_url(tenant.tenant_id), {"tier": "starter"}))
    assert data["tier"] == "starter"
    assert data["usageLimits"]["maxConcurrentJobs"] == 3
    assert storage.tenant_get(tenant.tenant_id).limits.max_jobs_per_day == 50
    assert actions_of(tenant.tenant_id)[0] == "tenant.tier_change"


def test_it_suspends_and_reactivates_a_tenant(staff_client, client, make_tenant):
    tenant, issued = make_tenant()
    url = tenant_url(tenant.tenant_id)
    assert data_of(patch_json(staff_client, url, {"status": "suspended"}))["status"] == "suspended"
    me = client.get("/api/v1/me", headers={"X-API-Key": issued.raw})
    assert "suspended" in me.json()["error"]["message"]
    assert data_of(patch_json(staff_client, url, {"status": "active"}))["status"] == "active"
    assert actions_of(tenant.tenant_id)[:2] == ["tenant.reactivate", "tenant.suspend"]


def test_it_changes_tier_and_status_in_one_patch(staff_client, make_tenant):
    tenant, _ = make_tenant()
    body = {"tier": "enterprise", "status": "suspended"}
    data = data_of(patch_json(staff_client, tenant_url(tenant.tenant_id), body))
    assert data["tier"] == "enterprise" and data["status"] == "suspended"


def test_a_patch_that_loses_a_race_is_a_conflict(staff_client, make_tenant):
    tenant, _ = make_tenant()
    with another_admin_edits_first(tenant.tenant_id):
        response = patch_json(staff_client, tenant_url(tenant.tenant_id), {"tier": "free"})
    error_of(response, 409, "CONFLICT")
    assert storage.tenant_get(tenant.tenant_id).tier == tenant.tier


@pytest.mark.parametrize(
    ("body", "field"), [({"tier": "gold"}, "tier"), ({"status": "pending"}, "status")]
)
def test_it_refuses_a_bad_patch_naming_the_field(staff_client, make_tenant, body, field):
    tenant, _ = make_tenant()
    error = error_of(
        patch_json(staff_client, tenant_url(tenant.tenant_id), body), 400, "VALIDATION_ERROR"
    )
    assert field in error["details"]
    assert storage.tenant_get(tenant.tenant_id) == tenant


# --- keys ------------------------------------------------------------------------------------


def test_it_lists_a_tenants_keys_without_secrets(staff_client, make_tenant):
    tenant, issued = make_tenant()
    items = data_of(staff_client.get(keys_url(tenant.tenant_id)))["items"]
    assert [k["id"] for k in items] == [issued.key.api_key_id]
    item = items[0]
    assert set(item) == {
        "id", "name", "prefix", "status", "scopes", "createdAt", "expiresAt", "lastUsedAt",
        "usageCount", "suspendedWithTenant",
    }  # fmt: skip
    assert item["prefix"] == issued.raw[:12] and item["status"] == "active"
    assert issued.key.key_hash not in str(items)


def test_it_creates_a_key_shown_once(staff_client, client, make_tenant):
    tenant, _ = make_tenant()
    body = {"name": "ci", "scopes": ["status", "list"], "expiresAt": "2999-01-01T00:00:00Z"}
    response = post_json(staff_client, keys_url(tenant.tenant_id), body)
    data = data_of(response, 201)
    assert response["Cache-Control"] == "no-store"
    assert data["name"] == "ci" and sorted(data["scopes"]) == ["list", "status"]
    assert data["expiresAt"] == "2999-01-01T00:00:00.000Z"
    me = client.get("/api/v1/me", headers={"X-API-Key": data["key"]})
    assert me.status_code == 200
    assert data["key"] not in staff_client.get(keys_url(tenant.tenant_id)).content.decode()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scopes": ["status"]}, "name"),
        ({"name": "k"}, "scopes"),
        ({"name": "k", "scopes": []}, "scopes"),
        ({"name": "k", "scopes": ["root"]}, "scopes"),
        ({"name": "k", "scopes": ["status"], "expiresAt": "tomorrow"}, "expiresAt"),
        ({"name": "k", "scopes": ["status"], "expiresAt": "2001-01-01T00:00:00Z"}, "expiresAt"),
    ],
)
def test_it_refuses_bad_key_input_naming_the_field(staff_client, make_tenant, body, field):
    tenant, _ = make_tenant()
    error = error_of(
        post_json(staff_client, keys_url(tenant.tenant_id), body), 400, "VALIDATION_ERROR"
    )
    assert field in error["details"]
    assert len(storage.keys_for_tenant(tenant.tenant_id)) == 1


def test_it_revokes_a_key(staff_client, client, make_tenant):
    tenant, issued = make_tenant()
    response = post_json(
        staff_client, key_url(tenant.tenant_id, issued.key.api_key_id, "revoke"), {}
    )
    assert data_of(response)["status"] == "revoked"
    assert storage.key_get(issued.key.api_key_id).status == KeyStatus.REVOKED
    me = client.get("/api/v1/me", headers={"X-API-Key": issued.raw})
    assert me.status_code == 401


def test_revoking_a_revoked_key_is_a_conflict(staff_client, make_tenant):
    tenant, issued = make_tenant()
    url = key_url(tenant.tenant_id, issued.key.api_key_id, "revoke")
    data_of(post_json(staff_client, url, {}))
    error_of(post_json(staff_client, url, {}), 409, "CONFLICT")


def test_it_rotates_a_key_with_a_grace_period(staff_client, client, make_tenant):
    tenant, issued = make_tenant()
    url = key_url(tenant.tenant_id, issued.key.api_key_id, "rotate")
    response = post_json(staff_client, url, {"graceHours": 2})
    data = data_of(response, 201)
    assert response["Cache-Control"] == "no-store"
    assert data["previous"]["id"] == issued.key.api_key_id
    assert data["previous"]["expiresAt"] is not None
    assert data["apiKey"]["scopes"] == [str(s) for s in issued.key.scopes]
    for raw in (issued.raw, data["apiKey"]["key"]):
        assert client.get("/api/v1/me", headers={"X-API-Key": raw}).status_code == 200


def test_a_rotation_grace_is_a_day_by_default(staff_client, make_tenant):
    tenant, issued = make_tenant()
    url = key_url(tenant.tenant_id, issued.key.api_key_id, "rotate")
    before = utcnow()
    data = data_of(post_json(staff_client, url, {}), 201)
    expires = parse_iso(data["previous"]["expiresAt"])
    assert expires is not None
    assert before + timedelta(hours=24) <= expires + timedelta(seconds=1)
    assert expires <= utcnow() + timedelta(hours=24)


def test_a_rotation_without_grace_stops_the_old_key_at_once(staff_client, client, make_tenant):
    tenant, issued = make_tenant()
    url = key_url(tenant.tenant_id, issued.key.api_key_id, "rotate")
    data = data_of(post_json(staff_client, url, {"graceHours": 0}), 201)
    old = client.get("/api/v1/me", headers={"X-API-Key": issued.raw})
    assert old.status_code == 401 and "expired" in old.json()["error"]["message"]
    new = client.get("/api/v1/me", headers={"X-API-Key": data["apiKey"]["key"]})
    assert new.status_code == 200


def test_a_rotation_grace_must_be_in_range(staff_client, make_tenant):
    tenant, issued = make_tenant()
    url = key_url(tenant.tenant_id, issued.key.api_key_id, "rotate")
    error = error_of(post_json(staff_client, url, {"graceHours": -1}), 400, "VALIDATION_ERROR")
    assert "graceHours" in error["details"]


def test_another_tenants_key_is_a_404(staff_client, make_tenant):
    tenant, _ = make_tenant()
    _, other = make_tenant()
    for action in ("revoke", "rotate"):
        url = key_url(tenant.tenant_id, other.key.api_key_id, action)
        error_of(post_json(staff_client, url, {}), 404, "NOT_FOUND")
    assert storage.key_get(other.key.api_key_id).status == KeyStatus.ACTIVE
    assert len(storage.keys_for_tenant(other.key.tenant_id)) == 1


def test_an_unknown_key_is_a_404(staff_client, make_tenant):
    tenant, _ = make_tenant()
    url = key_url(tenant.tenant_id, str(uuid.uuid4()), "revoke")
    error_of(post_json(staff_client, url, {}), 404, "NOT_FOUND")


def test_an_overlong_id_is_a_404_not_a_store_error(staff_client, make_tenant):
    tenant, issued = make_tenant()
    long_id = "a" * 3000  # over DynamoDB's key size: the store would refuse it
    error_of(staff_client.get(tenant_url(long_id)), 404, "NOT_FOUND")
    error_of(staff_client.get(keys_url(long_id)), 404, "NOT_FOUND")
    for action in ("revoke", "rotate"):
        url = key_url(tenant.tenant_id, long_id, action)
        error_of(post_json(staff_client, url, {}), 404, "NOT_FOUND")
    assert storage.key_get(issued.key.api_key_id).status == KeyStatus.ACTIVE


def test_an_unknown_api_path_is_a_404_envelope(staff_client):
    response = staff_client.get("/api/v1/admin/nothing-here")
    error_of(response, 404, "NOT_FOUND")


# --- the audit trail ------------------------------------------------------------------------------


def test_every_admin_action_writes_an_audit_record(staff_client):
    ua = {"User-Agent": "audit-test/1.0"}
    created = data_of(
        post_json(staff_client, TENANTS, {"name": "Audited", "email": unique_email()}, **ua), 201
    )
    tenant_id, first_key = created["tenant"]["tenantId"], created["apiKey"]["id"]
    request_ids = []
    steps = [
        (patch_json, tenant_url(tenant_id), {"tier": "free"}),
        (patch_json, tenant_url(tenant_id), {"status": "suspended"}),
        (patch_json, tenant_url(tenant_id), {"status": "active"}),
        (post_json, keys_url(tenant_id), {"name": "second", "scopes": ["status"]}),
        (post_json, key_url(tenant_id, first_key, "rotate"), {"graceHours": 1}),
        (post_json, key_url(tenant_id, first_key, "revoke"), {}),
    ]
    for send, url, body in steps:
        response = send(staff_client, url, body, **ua)
        assert response.status_code in (200, 201), response.content
        request_ids.append(response["X-Request-ID"])
    events = audit.audit_list(tenant_id=tenant_id).items
    assert [e.action for e in reversed(events)] == [
        "tenant.provision",
        "tenant.tier_change",
        "tenant.suspend",
        "tenant.reactivate",
        "key.create",
        "key.rotate",
        "key.revoke",
    ]
    assert [e.request_id for e in reversed(events)][1:] == request_ids
    assert {e.actor for e in events} == {"staff"}
    assert {e.user_agent for e in events} == {"audit-test/1.0"}
    assert {e.ip_address for e in events} == {"127.0.0.1"}
    assert created["apiKey"]["key"] not in str(events)


def test_an_action_with_an_operator_key_is_audited_with_the_key_as_actor(key_client, admin_key):
    created = data_of(
        post_json(key_client, TENANTS, {"name": "By Key", "email": unique_email()}), 201
    )
    (event,) = audit.audit_list(tenant_id=created["tenant"]["tenantId"]).items
    assert event.actor == f"key:{admin_key[:12]}"
    assert admin_key not in str(event)


def test_a_given_request_id_is_echoed(staff_client):
    response = staff_client.get(TENANTS, headers={"X-Request-ID": "trace-123"})
    assert response["X-Request-ID"] == "trace-123"
    assert response.json()["meta"]["requestId"] == "trace-123"


def test_an_unsafe_request_id_is_replaced(staff_client):
    response = staff_client.get(TENANTS, headers={"X-Request-ID": "<script>"})
    assert response["X-Request-ID"] != "<script>" and len(response["X-Request-ID"]) == 36


def test_a_suspended_operator_key_cannot_administer(client, make_tenant, operator_key, actor):
    tenant, _ = make_tenant()
    issued = operator_key(tenant.tenant_id)
    services.tenant_set_status(
        tenant_id=tenant.tenant_id, status=TenantStatus.SUSPENDED, actor=actor
    )
    error_of(client.get(TENANTS, headers={"X-API-Key": issued.raw}), 401, "AUTHENTICATION_ERROR")


def test_it_suspends_a_tenant_with_a_long_history_of_expired_keys(staff_client, make_tenant):
    tenant, _ = make_tenant()
    put_expired_keys(tenant.tenant_id, 120)  # what years of rotations leave behind
    response = patch_json(staff_client, tenant_url(tenant.tenant_id), {"status": "suspended"})
    assert data_of(response)["status"] == "suspended"
    response = patch_json(staff_client, tenant_url(tenant.tenant_id), {"tier": "free"})
    assert data_of(response)["tier"] == "free"


def put_expired_keys(tenant_id, count):
    past = iso(utcnow() - timedelta(days=1))
    items = [
        {
            "apiKeyId": str(uuid.uuid4()),
            "tenantId": tenant_id,
            "name": "rotated",
            "keyHash": f"{i:064x}",
            "keyHashIndex": f"{i:064x}",
            "keyPrefix": "otp_old",
            "status": "active",
            "scopes": ["status"],
            "createdAt": past,
            "expiresAt": past,
        }
        for i in range(count)
    ]
    for start in range(0, count, 25):
        batch = [{"PutRequest": {"Item": to_item(item)}} for item in items[start : start + 25]]
        call("batch_write_item", RequestItems={API_KEYS.name: batch})


def test_a_suspension_through_the_api_can_say_why(staff_client, make_tenant):
    tenant, _ = make_tenant()
    url = tenant_url(tenant.tenant_id)
    too_long = patch_json(staff_client, url, {"status": "suspended", "reason": "x" * 501})
    assert too_long.status_code == 400
    assert storage.tenant_get(tenant.tenant_id).status == TenantStatus.ACTIVE
    patch_json(staff_client, url, {"status": "suspended", "reason": "Chargeback on INV-9"})
    assert storage.tenant_get(tenant.tenant_id).suspended_reason == "Chargeback on INV-9"
    events = audit.audit_list(tenant_id=tenant.tenant_id).items
    assert events[0].metadata["reason"] == "Chargeback on INV-9"
