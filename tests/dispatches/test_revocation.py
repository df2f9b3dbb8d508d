"""A revocation or suspension made here refuses a create in another process at once, although
that process still holds the key in its cache: the create's transaction checks the key item."""

import pytest

from dispatches import storage
from outpost_admin.audit import audit_event
from outpost_admin.dynamo import counting_calls
from tenants import services
from tenants import storage as tenant_storage
from tenants.domain import TenantStatus
from tests.live_app import app_server, http

from .conftest import BODY


@pytest.fixture(scope="module")
def other_process(dynamodb_local, tmp_path_factory):
    """Another process serving the app; it trusts a verified key for a whole minute."""
    var_dir = tmp_path_factory.mktemp("other-process")
    with app_server(dynamodb_local, var_dir, OUTPOST_API_KEY_CACHE_SECONDS="60") as url:
        yield url


def created_in(tenant_id):
    return len(storage.dispatch_list(tenant_id=tenant_id, limit=100).items)


def warm(url, key):
    """The other process verifies the key and creates once: its cache now holds the key."""
    assert http(url, "GET", "/api/v1/me", key=key)[0] == 200
    assert http(url, "POST", "/api/v1/dispatches", key=key, body=BODY)[0] == 201


def test_a_revoked_key_cannot_create_in_another_process_right_after(
    other_process, make_tenant, actor
):
    tenant, issued = make_tenant()
    warm(other_process, issued.raw)
    services.key_revoke(tenant_id=tenant.tenant_id, api_key_id=issued.key.api_key_id, actor=actor)
    # Reads there may still use the cached key (up to its cache time; 5 s by default) ...
    assert http(other_process, "GET", "/api/v1/me", key=issued.raw)[0] == 200
    # ... but a create is refused at once.
    status, body = http(other_process, "POST", "/api/v1/dispatches", key=issued.raw, body=BODY)
    assert status == 401 and body["error"]["code"] == "AUTHENTICATION_ERROR"
    assert created_in(tenant.tenant_id) == 1
    # The refusal drops the key from that process's cache: its reads stop too.
    assert http(other_process, "GET", "/api/v1/me", key=issued.raw)[0] == 401


def test_a_suspended_tenant_cannot_create_in_another_process_right_after(
    other_process, make_tenant, actor
):
    tenant, issued = make_tenant()
    warm(other_process, issued.raw)
    services.tenant_set_status(
        tenant_id=tenant.tenant_id, status=TenantStatus.SUSPENDED, actor=actor
    )
    status, body = http(other_process, "POST", "/dispatch", key=issued.raw, body=BODY)
    assert status in (401, 403), body
    assert body["error"]["code"] in ("AUTHENTICATION_ERROR", "AUTHORIZATION_ERROR")
    assert created_in(tenant.tenant_id) == 1
    assert http(other_process, "GET", "/api/v1/me", key=issued.raw)[0] in (401, 403)


def test_the_key_check_costs_no_call_of_its_own(api, make_tenant, actor):
    """A key this process still trusts, revoked elsewhere: one TransactWriteItems, refused."""
    tenant, issued = make_tenant()
    assert api(issued.raw).get("/api/v1/me").status_code == 200
    event = audit_event(
        tenant_id=tenant.tenant_id, action="key.revoke", resource="key", actor=actor, metadata={}
    )
    tenant_storage.key_revoke(issued.key, event)  # as another process would: no cache to drop
    with counting_calls() as log:
        response = api(issued.raw).post("/api/v1/dispatches", BODY)
    assert response.status_code == 401 and log.operations == ["TransactWriteItems"]
    assert created_in(tenant.tenant_id) == 0
    assert tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs == 0
