"""Round trips against DynamoDB Local with the exact attribute names the control plane uses."""

import re
from datetime import timedelta

import pytest

from outpost_admin import audit
from outpost_admin.dynamo import call, from_item, to_item, utcnow
from outpost_admin.dynamo.tables import API_KEYS, AUDIT, TENANTS
from tenants import keys, services, storage
from tenants.domain import KeyStatus, Scope, Tier

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def raw_item(table, **key):
    return from_item(call("get_item", TableName=table.name, Key=to_item(key))["Item"])


def test_tenant_item_is_written_as_the_control_plane_writes_it(make_tenant):
    tenant, _ = make_tenant(name="Acme Corp", tier=Tier.STARTER)
    item = raw_item(TENANTS, tenant_id=tenant.tenant_id, sk="TENANT")
    assert UUID4.match(item["tenant_id"]) and item["tenantId"] == item["tenant_id"]
    assert item["name"] == "Acme Corp" and item["tier"] == "starter" and item["status"] == "active"
    assert ISO_Z.match(item["createdAt"]) and ISO_Z.match(item["updatedAt"])
    assert item["usageLimits"] == {
        "maxConcurrentJobs": 3,
        "maxJobsPerDay": 50,
        "maxJobTimeoutSeconds": 600,
    }
    assert item["currentUsage"]["concurrentJobs"] == 0 and item["currentUsage"]["jobsToday"] == 0
    assert item["currentUsage"]["lastResetDate"] == item["createdAt"][:10]
    assert storage.tenant_get(tenant.tenant_id) == tenant


def test_key_item_stores_only_the_hash_and_prefix(make_tenant):
    tenant, issued = make_tenant()
    item = raw_item(API_KEYS, apiKeyId=issued.key.api_key_id)
    digest = keys.hash_key(issued.raw)
    assert item["keyHash"] == item["keyHashIndex"] == digest
    assert item["keyPrefix"] == issued.raw[:12]
    assert item["tenantId"] == tenant.tenant_id and item["status"] == "active"
    assert item["scopes"] == ["dispatch", "status", "list", "cancel"]
    assert ISO_Z.match(item["createdAt"])
    assert issued.raw not in str(item)
    assert "expiresAt" not in item and "lastUsedAt" not in item  # absent optionals are omitted
    assert storage.key_by_hash(digest) == (
        issued.key,
        {"tenantStatus": "active", "tenantTier": "pro", "tenantName": tenant.name},
    )


def test_audit_records_have_unique_sort_keys_and_no_secret(make_tenant):
    tenant, issued = make_tenant()
    events = audit.audit_list(tenant_id=tenant.tenant_id).items
    assert [e.action for e in events] == ["tenant.provision"]
    item = raw_item(AUDIT, tenant_id=tenant.tenant_id, timestamp=events[0].timestamp)
    assert set(item) >= {
        "tenant_id",
        "timestamp",
        "action",
        "resource",
        "actor",
        "metadata",
        "request_id",
        "ip_address",
        "user_agent",
        "expires_at",
    }
    assert re.match(r"^\d{4}-.*Z#[0-9a-f]{8}$", item["timestamp"])
    assert issued.raw not in str(item) and keys.hash_key(issued.raw) not in str(item)
    assert item["expires_at"] > utcnow().timestamp()


def test_two_events_in_the_same_millisecond_do_not_overwrite(make_tenant, actor):
    tenant, _ = make_tenant()
    for _ in range(5):
        audit.audit_write(
            audit.audit_event(
                tenant_id=tenant.tenant_id, action="x.test", resource="r", actor=actor, metadata={}
            )
        )
    assert len(audit.audit_list(tenant_id=tenant.tenant_id, action="x.test").items) == 5


def test_provisioning_refuses_a_duplicate_email_and_writes_nothing(make_tenant):
    tenant, _ = make_tenant(email="dup-check@example.com".replace("dup", f"dup{id(make_tenant)}"))
    with pytest.raises(services.ServiceError) as exc:
        make_tenant(email=tenant.email.upper())
    assert exc.value.field == "email"


def test_revoke_rotate_and_expiry_are_stored(make_tenant, actor):
    tenant, issued = make_tenant()
    _, new = services.key_rotate(
        tenant_id=tenant.tenant_id,
        api_key_id=issued.key.api_key_id,
        grace=timedelta(hours=2),
        actor=actor,
    )
    stored_old = storage.key_get(issued.key.api_key_id)
    assert stored_old.expires_at and abs(
        (stored_old.expires_at - utcnow()) - timedelta(hours=2)
    ) < timedelta(minutes=1)
    assert storage.key_get(new.key.api_key_id).scopes == issued.key.scopes
    services.key_revoke(tenant_id=tenant.tenant_id, api_key_id=new.key.api_key_id, actor=actor)
    assert storage.key_get(new.key.api_key_id).status == KeyStatus.REVOKED
    actions = [e.action for e in audit.audit_list(tenant_id=tenant.tenant_id).items]
    assert actions == ["key.revoke", "key.rotate", "tenant.provision"]


def test_tier_change_updates_limits_and_the_key_copies(make_tenant, actor):
    tenant, issued = make_tenant(tier=Tier.FREE)
    services.tenant_change_tier(tenant_id=tenant.tenant_id, tier=Tier.ENTERPRISE, actor=actor)
    item = raw_item(TENANTS, tenant_id=tenant.tenant_id, sk="TENANT")
    assert item["tier"] == "enterprise" and item["usageLimits"]["maxJobsPerDay"] == 10000
    key_item = raw_item(API_KEYS, apiKeyId=issued.key.api_key_id)
    assert key_item["tenantTier"] == "enterprise" and key_item["tenantStatus"] == "active"


def test_tenant_list_searches_by_name_prefix_and_pages(make_tenant):
    marker = f"zq{id(object()):x}"
    for i in range(5):
        make_tenant(name=f"{marker} Co {i}")
    first = storage.tenant_list(search=marker.upper(), limit=3)
    assert [t.name for t in first.items] == [f"{marker} Co {i}" for i in range(3)]
    second = storage.tenant_list(search=marker, limit=3, cursor=first.cursor)
    assert [t.name for t in second.items] == [f"{marker} Co {i}" for i in (3, 4)]
    assert second.cursor is None


def test_scopes_and_checksum_format():
    raw = keys.generate()
    assert raw.startswith("otp_") and len(raw) == 4 + 43 + 6
    assert keys.is_well_formed(raw)
    assert not keys.is_well_formed(raw[:-1] + ("A" if raw[-1] != "A" else "B"))
    assert keys.is_well_formed("otp_" + "a" * 64) and not keys.is_well_formed("otp_" + "A" * 64)
    assert Scope("admin") == Scope.ADMIN


def test_a_tenant_change_fails_if_a_key_was_issued_after_the_tenant_was_read(make_tenant, actor):
    from dataclasses import replace

    from outpost_admin.dynamo import Conflict
    from tenants.domain import TenantStatus

    tenant, _ = make_tenant()
    seen = storage.tenant_get(tenant.tenant_id)
    services.key_create(
        tenant_id=tenant.tenant_id,
        name="late",
        scopes=(Scope.DISPATCH,),
        expires_at=None,
        actor=actor,
    )
    changed = replace(
        seen, status=TenantStatus.SUSPENDED, updated_at=utcnow() + timedelta(seconds=1)
    )
    event = audit.audit_event(
        tenant_id=tenant.tenant_id, action="t", resource="r", actor=actor, metadata={}
    )
    with pytest.raises(Conflict):
        storage.tenant_update(
            changed, expected_updated_at=seen.updated_at, keys=[], key_changes=[], event=event
        )
    assert storage.tenant_get(tenant.tenant_id).key_count == 2


def test_audit_metadata_hides_secrets_but_keeps_key_identifiers():
    cleaned = audit.redact(
        {
            "key": "otp_x",
            "apiKey": "otp_y",
            "keyHash": "ab",
            "password": "p",
            "clientSecret": "s",
            "keyPrefix": "otp_abc",
            "newKeyId": "id-1",
            "newKeyPrefix": "otp_def",
            "name": "n",
        }
    )
    assert cleaned == {
        "key": "[redacted]",
        "apiKey": "[redacted]",
        "keyHash": "[redacted]",
        "password": "[redacted]",
        "clientSecret": "[redacted]",
        "keyPrefix": "otp_abc",
        "newKeyId": "id-1",
        "newKeyPrefix": "otp_def",
        "name": "n",
    }
