"""API keys at the door: format, one read at most, the reasons for refusal, usage counters."""

import time
import uuid
from datetime import timedelta

import pytest
from django.conf import settings

from outpost_admin.dynamo import call, counting_calls, iso, to_item, utcnow, values
from outpost_admin.dynamo.tables import API_KEYS, TENANTS
from tenants import authentication, keys, services, storage
from tenants.domain import Scope, TenantStatus, Tier

ME = "/api/v1/me"


def me(client, raw, *, bearer=False):
    if bearer:
        return client.get(ME, headers={"Authorization": f"Bearer {raw}"})
    return client.get(ME, headers={"X-API-Key": raw})


def assert_refused(response, reason):
    assert response.status_code == 401
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "AUTHENTICATION_ERROR"
    assert reason in body["error"]["message"]
    assert body["meta"]["requestId"] == response["X-Request-ID"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def set_expiry(api_key_id, expires_at):
    call(
        "update_item",
        TableName=API_KEYS.name,
        Key=to_item({"apiKeyId": api_key_id}),
        UpdateExpression="SET expiresAt = :e",
        ExpressionAttributeValues=values({":e": iso(expires_at)}),
    )


def revoke_elsewhere(api_key_id):
    """What another process does: change the item, with no way to drop our cache entry."""
    call(
        "update_item",
        TableName=API_KEYS.name,
        Key=to_item({"apiKeyId": api_key_id}),
        UpdateExpression="SET #s = :r",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues=values({":r": "revoked"}),
    )


def put_control_plane_key(tenant_id, raw, **extra):
    """A key item as the TypeScript control plane writes it: no copy of the tenant."""
    digest = keys.hash_key(raw)
    item = {
        "apiKeyId": str(uuid.uuid4()),
        "tenantId": tenant_id,
        "name": "from the control plane",
        "keyHash": digest,
        "keyHashIndex": digest,
        "keyPrefix": raw[:12],
        "status": "active",
        "scopes": ["dispatch", "status"],
        "createdAt": iso(utcnow()),
        **extra,
    }
    call("put_item", TableName=API_KEYS.name, Item=to_item(item))
    return item["apiKeyId"]


def legacy_key():
    return "otp_" + uuid.uuid4().hex + uuid.uuid4().hex


# --- the key format ------------------------------------------------------------------


def test_new_keys_carry_a_base62_body_and_checksum():
    raw = keys.generate()
    assert raw.startswith("otp_") and len(raw) == 4 + 43 + 6
    assert raw[4:].isalnum()
    assert keys.checksum(raw[4:47]) == raw[47:]
    assert keys.is_well_formed(raw)


def test_it_tells_a_mistyped_key_by_its_checksum():
    raw = keys.generate()
    typo = raw[:10] + ("x" if raw[10] != "x" else "y") + raw[11:]
    assert not keys.is_well_formed(typo)
    assert not keys.is_well_formed(raw[:-1])
    assert not keys.is_well_formed(raw + "0")
    assert not keys.is_well_formed(raw.replace("otp_", "otx_"))


def test_it_accepts_legacy_hex_keys_only_in_lower_case():
    assert keys.is_well_formed("otp_" + "0123456789abcdef" * 4)
    assert not keys.is_well_formed("otp_" + "0123456789ABCDEF" * 4)
    assert not keys.is_well_formed("otp_" + "a" * 63)


def test_two_generated_keys_differ():
    assert len({keys.generate() for _ in range(50)}) == 50


# --- calls to the store ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["", "nonsense", "otp_short", "otp_" + "A" * 64, "Bearer otp_x", "otp_" + "é" * 49],
)
def test_it_refuses_a_malformed_key_without_reading_the_store(client, raw):
    with counting_calls() as log:
        response = me(client, raw)
    assert_refused(response, "malformed")
    assert log.operations == []


def test_it_refuses_a_key_with_a_wrong_checksum_without_reading_the_store(client, make_tenant):
    _, issued = make_tenant()
    forged = issued.raw[:-6] + ("000000" if issued.raw[-6:] != "000000" else "000001")
    with counting_calls() as log:
        response = me(client, forged)
    assert_refused(response, "malformed")
    assert log.operations == []


def test_it_reads_the_store_once_on_a_cold_cache_and_never_on_a_warm_one(client, make_tenant):
    _, issued = make_tenant()
    with counting_calls() as cold:
        assert me(client, issued.raw).status_code == 200
    with counting_calls() as warm:
        assert me(client, issued.raw).status_code == 200
    assert cold.operations == ["Query"]
    assert warm.operations == []


def test_it_reads_the_store_once_for_a_bearer_token(client, make_tenant):
    _, issued = make_tenant()
    with counting_calls() as cold:
        assert me(client, issued.raw, bearer=True).status_code == 200
    with counting_calls() as warm:
        assert me(client, issued.raw, bearer=True).status_code == 200
    assert cold.count == 1 and warm.count == 0


# --- /api/v1/me ----------------------------------------------------------------------------


def test_me_describes_the_tenant_and_the_key(client, make_tenant):
    tenant, issued = make_tenant(name="Describe Me")
    response = me(client, issued.raw, bearer=True)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"] == {
        "tenantId": tenant.tenant_id,
        "name": "Describe Me",
        "tier": "pro",
        "limits": {"maxConcurrentJobs": 10, "maxJobsPerDay": 500, "maxJobTimeoutSeconds": 1800},
        "key": {
            "id": issued.key.api_key_id,
            "prefix": issued.raw[:12],
            "scopes": ["dispatch", "status", "list", "cancel"],
        },
    }
    assert body["meta"]["requestId"] == response["X-Request-ID"]


def test_me_without_any_credentials_is_a_401(client):
    response = client.get(ME)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"


def test_it_refuses_an_authorization_header_with_extra_words(client, make_tenant):
    _, issued = make_tenant()
    response = client.get(ME, headers={"Authorization": f"Bearer {issued.raw} extra"})
    assert_refused(response, "Bearer <key>")


def test_it_ignores_other_authorization_schemes(client):
    response = client.get(ME, headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"


# --- refusals and their reasons -----------------------------------------------------------------


def test_it_refuses_an_unknown_key(client):
    with counting_calls() as log:
        response = me(client, keys.generate())
    assert_refused(response, "not recognised")
    assert log.count == 1


def test_a_revocation_takes_effect_at_once_in_this_process(client, make_tenant, actor):
    tenant, issued = make_tenant()
    assert me(client, issued.raw).status_code == 200  # now cached
    services.key_revoke(tenant_id=tenant.tenant_id, api_key_id=issued.key.api_key_id, actor=actor)
    assert_refused(me(client, issued.raw), "revoked")
    assert_refused(me(client, issued.raw, bearer=True), "revoked")


def test_it_refuses_an_expired_key(client, make_tenant):
    _, issued = make_tenant()
    set_expiry(issued.key.api_key_id, utcnow() - timedelta(seconds=1))
    assert_refused(me(client, issued.raw), "expired")


def test_a_cached_key_stops_working_when_it_expires(client, make_tenant):
    _, issued = make_tenant()
    expires_at = utcnow() + timedelta(seconds=1)
    set_expiry(issued.key.api_key_id, expires_at)
    assert me(client, issued.raw).status_code == 200
    time.sleep(max(0.0, (expires_at - utcnow()).total_seconds()) + 0.05)
    with counting_calls() as log:
        assert_refused(me(client, issued.raw), "expired")
    assert log.count == 0


def test_it_refuses_the_keys_of_a_suspended_tenant_and_accepts_them_again_on_reactivation(
    client, make_tenant, actor
):
    tenant, issued = make_tenant()
    assert me(client, issued.raw).status_code == 200
    services.tenant_set_status(
        tenant_id=tenant.tenant_id, status=TenantStatus.SUSPENDED, actor=actor
    )
    assert_refused(me(client, issued.raw), "suspended")
    services.tenant_set_status(tenant_id=tenant.tenant_id, status=TenantStatus.ACTIVE, actor=actor)
    assert me(client, issued.raw).status_code == 200


def test_a_verified_key_is_cached_for_at_most_a_minute():
    assert 0 < settings.API_KEY_CACHE_SECONDS <= 5


def test_a_revocation_made_elsewhere_is_seen_when_the_cache_entry_ends(
    client, make_tenant, settings
):
    settings.API_KEY_CACHE_SECONDS = 1
    _, issued = make_tenant()
    assert me(client, issued.raw).status_code == 200
    revoke_elsewhere(issued.key.api_key_id)
    assert me(client, issued.raw).status_code == 200  # still cached here
    time.sleep(1.05)
    with counting_calls() as log:
        assert_refused(me(client, issued.raw), "revoked")
    assert log.count == 1


def test_a_tier_change_in_this_process_is_seen_at_once(client, make_tenant, actor):
    tenant, issued = make_tenant()
    assert me(client, issued.raw).json()["data"]["tier"] == "pro"
    services.tenant_change_tier(tenant_id=tenant.tenant_id, tier=Tier.FREE, actor=actor)
    data = me(client, issued.raw).json()["data"]
    assert data["tier"] == "free" and data["limits"]["maxConcurrentJobs"] == 1


def test_a_key_created_while_the_tenant_is_suspended_works_once_it_is_reactivated(
    client, make_tenant, actor
):
    tenant, _ = make_tenant()
    services.tenant_set_status(
        tenant_id=tenant.tenant_id, status=TenantStatus.SUSPENDED, actor=actor
    )
    issued = services.key_create(
        tenant_id=tenant.tenant_id, name="new", scopes=(Scope.STATUS,), expires_at=None, actor=actor
    )
    assert_refused(me(client, issued.raw), "suspended")
    services.tenant_set_status(tenant_id=tenant.tenant_id, status=TenantStatus.ACTIVE, actor=actor)
    assert me(client, issued.raw).status_code == 200


def test_rotation_keeps_the_old_key_working_through_the_grace_period(client, make_tenant, actor):
    tenant, issued = make_tenant()
    _, new = services.key_rotate(
        tenant_id=tenant.tenant_id,
        api_key_id=issued.key.api_key_id,
        grace=timedelta(hours=24),
        actor=actor,
    )
    assert me(client, issued.raw).status_code == 200
    assert me(client, new.raw).status_code == 200
    assert me(client, new.raw).json()["data"]["key"]["scopes"] == [
        str(s) for s in issued.key.scopes
    ]


def test_rotation_refuses_the_old_key_once_its_grace_ends(client, make_tenant, actor):
    tenant, issued = make_tenant()
    assert me(client, issued.raw).status_code == 200  # cached before the rotation
    _, new = services.key_rotate(
        tenant_id=tenant.tenant_id,
        api_key_id=issued.key.api_key_id,
        grace=timedelta(0),
        actor=actor,
    )
    assert_refused(me(client, issued.raw), "expired")
    assert me(client, new.raw).status_code == 200


# --- keys made by the control plane, and legacy keys -----------------------------------------


def test_a_legacy_hex_key_in_the_api_keys_table_works(client, make_tenant):
    tenant, _ = make_tenant(name="Legacy Co")
    raw = legacy_key()
    put_control_plane_key(tenant.tenant_id, raw)
    response = me(client, raw)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["tenantId"] == tenant.tenant_id and data["name"] == "Legacy Co"
    assert data["key"]["scopes"] == ["dispatch", "status"]


def test_a_control_plane_key_of_a_suspended_tenant_is_refused(client, make_tenant, actor):
    tenant, _ = make_tenant()
    raw = legacy_key()
    put_control_plane_key(tenant.tenant_id, raw)
    services.tenant_set_status(
        tenant_id=tenant.tenant_id, status=TenantStatus.SUSPENDED, actor=actor
    )
    assert_refused(me(client, raw), "suspended")


def test_a_control_plane_key_of_a_deleted_tenant_is_refused(client):
    raw = legacy_key()
    put_control_plane_key(str(uuid.uuid4()), raw)
    assert_refused(me(client, raw), "not recognised")


def test_a_revoked_legacy_key_is_refused(client, make_tenant):
    tenant, _ = make_tenant()
    raw = legacy_key()
    put_control_plane_key(tenant.tenant_id, raw, status="revoked")
    assert_refused(me(client, raw), "revoked")


def test_a_legacy_key_hashed_on_the_tenant_item_works(client, make_tenant):
    tenant, _ = make_tenant()
    raw = legacy_key()
    call(
        "update_item",
        TableName=TENANTS.name,
        Key=storage.tenant_key(tenant.tenant_id),
        UpdateExpression="SET api_key_hash = :h",
        ExpressionAttributeValues=values({":h": keys.hash_key(raw)}),
    )
    response = me(client, raw, bearer=True)
    assert response.status_code == 200
    assert response.json()["data"]["tenantId"] == tenant.tenant_id


# --- usage counters ----------------------------------------------------------------------------


def test_it_records_use_once_and_not_on_every_request(client, make_tenant):
    _, issued = make_tenant()
    before = utcnow()
    for _ in range(5):
        assert me(client, issued.raw).status_code == 200
    authentication.usage.wait()
    stored = storage.key_get(issued.key.api_key_id)
    assert stored.usage_count == 1
    assert stored.last_used_at is not None and stored.last_used_at >= before - timedelta(seconds=1)


def test_uses_between_writes_are_counted_at_the_next_write(client, make_tenant, settings):
    _, issued = make_tenant()
    for _ in range(4):
        me(client, issued.raw)
    authentication.usage.wait()
    settings.API_KEY_USAGE_FLUSH_SECONDS = 0
    me(client, issued.raw)
    authentication.usage.wait()
    assert storage.key_get(issued.key.api_key_id).usage_count == 5


def test_usage_is_written_off_the_request(client, make_tenant):
    _, issued = make_tenant()
    with counting_calls() as log:
        me(client, issued.raw)
    authentication.usage.wait()
    assert "UpdateItem" not in log.operations


def test_refused_keys_are_not_counted(client, make_tenant, actor):
    tenant, issued = make_tenant()
    services.key_revoke(tenant_id=tenant.tenant_id, api_key_id=issued.key.api_key_id, actor=actor)
    me(client, issued.raw)
    authentication.usage.wait()
    stored = storage.key_get(issued.key.api_key_id)
    assert stored.usage_count == 0 and stored.last_used_at is None


def test_a_key_with_only_some_scopes_is_described_with_them(client, make_tenant, actor):
    tenant, _ = make_tenant()
    issued = services.key_create(
        tenant_id=tenant.tenant_id,
        name="reader",
        scopes=(Scope.STATUS, Scope.LIST),
        expires_at=None,
        actor=actor,
    )
    assert me(client, issued.raw).json()["data"]["key"]["scopes"] == ["status", "list"]


def test_a_suspension_reaches_a_key_the_tenant_index_has_not_caught_up_with(make_tenant, actor):
    """On AWS the tenant-index is eventually consistent; the tenant's `KEY#` items, read
    consistently, are not."""
    from outpost_admin.dynamo import client
    from tenants import authentication, services
    from tenants.domain import Scope, TenantStatus

    tenant, _ = make_tenant()
    fresh = services.key_create(
        tenant_id=tenant.tenant_id,
        name="fresh",
        scopes=(Scope.DISPATCH,),
        expires_at=None,
        actor=actor,
    )

    def lagging_index(parsed, model, **_):
        if model.name == "Query" and any("keyHash" in item for item in parsed.get("Items", [])):
            parsed["Items"] = [
                i for i in parsed["Items"] if i["apiKeyId"]["S"] != fresh.key.api_key_id
            ]

    client().meta.events.register("after-call.dynamodb.Query", lagging_index)
    try:
        services.tenant_set_status(
            tenant_id=tenant.tenant_id, status=TenantStatus.SUSPENDED, actor=actor
        )
    finally:
        client().meta.events.unregister("after-call.dynamodb.Query", lagging_index)
    authentication.forget_all()
    with pytest.raises(authentication.KeyRefused, match="suspended"):
        authentication.authenticate(fresh.raw)
