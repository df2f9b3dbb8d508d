"""Run a finished dispatch again (API and page), and cancel several with one confirmation."""

import re

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from dispatches import lifecycle as services
from dispatches import storage
from dispatches.domain import DispatchStatus
from dispatches.forms import tags_text
from outpost_admin import audit
from outpost_admin.dynamo import counting_calls
from tenants import storage as tenant_storage
from tenants.domain import Scope, Tier
from tenants.services import key_create

from .conftest import BODY

pytestmark = pytest.mark.django_db


def finished(api, key, **fields):
    dispatch_id = api(key).post("/api/v1/dispatches", BODY | fields).json()["data"]["dispatchId"]
    assert services.dispatch_finish(
        storage.dispatch_get(dispatch_id), status=DispatchStatus.FAILED, exit_code=1
    )
    return dispatch_id


def rerun(api, key, dispatch_id, **headers):
    return api(key).post(f"/api/v1/dispatches/{dispatch_id}/rerun", {}, **headers)


# --- the API ---------------------------------------------------------------------------------


def test_a_finished_dispatch_runs_again_linked_to_the_original(api, tenant_key):
    tenant, key = tenant_key()
    original = finished(api, key, branch="fix/x", tags={"ci": "yes"})
    response = rerun(api, key, original)
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["rerunOf"] == original and data["status"] == "pending"
    again = storage.dispatch_get(data["dispatchId"])
    first = storage.dispatch_get(original)
    assert (again.task, again.repo, again.branch, again.agent) == (
        first.task,
        first.repo,
        first.branch,
        first.agent,
    )
    assert again.rerun_of == original and again.tenant_id == tenant.tenant_id
    events = audit.audit_list(tenant_id=tenant.tenant_id, action="dispatch.create").items
    assert events[0].metadata["rerunOf"] == original


def test_a_rerun_is_idempotent_like_a_create(api, tenant_key):
    _, key = tenant_key()
    original = finished(api, key)
    first = rerun(api, key, original, HTTP_IDEMPOTENCY_KEY="again-1")
    second = rerun(api, key, original, HTTP_IDEMPOTENCY_KEY="again-1")
    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert first.json()["data"] == second.json()["data"]
    other = finished(api, key)
    mismatch = rerun(api, key, other, HTTP_IDEMPOTENCY_KEY="again-1")
    assert mismatch.status_code == 422


@pytest.mark.parametrize("idempotency_key", ["line\nbreak", "中文", "with space", "x" * 256])
def test_a_rerun_body_key_a_header_cannot_carry_is_a_400_not_a_500(
    api, tenant_key, idempotency_key
):
    """The key comes back in the answer's Idempotency-Key header (a line break was a 500)."""
    _, key = tenant_key()
    original = finished(api, key)
    path = f"/api/v1/dispatches/{original}/rerun"
    response = api(key).post(path, {"idempotencyKey": idempotency_key})
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["idempotencyKey"]


def test_an_empty_idempotency_key_header_on_a_rerun_is_a_400(api, tenant_key):
    _, key = tenant_key()
    original = finished(api, key)
    response = rerun(api, key, original, HTTP_IDEMPOTENCY_KEY="")
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["idempotencyKey"]


def test_a_rerun_ignores_unknown_body_fields_and_refuses_a_body_that_is_no_object(api, tenant_key):
    _, key = tenant_key()
    original = finished(api, key)
    path = f"/api/v1/dispatches/{original}/rerun"
    assert api(key).post(path, {"unknown": [1, {"x": None}]}).status_code == 201
    refused = api(key).post(path, ["not", "an", "object"])
    assert refused.status_code == 400 and refused["Content-Type"] == "application/json"


def test_a_rerun_counts_against_the_quotas(api, tenant_key):
    _, key = tenant_key(Tier.FREE)
    original = finished(api, key, timeoutSeconds=60)
    assert rerun(api, key, original).status_code == 201
    refused = rerun(api, key, original)  # the free tier runs one at a time
    assert refused.status_code == 429
    assert refused.json()["error"]["details"]["limit"] == "concurrency"


def test_a_rerun_with_a_key_revoked_elsewhere_is_a_401_like_a_create(api, make_tenant, actor):
    """The key this process still trusts was revoked by another: the create's transaction
    refuses it, and the re-run answers as a create does (it was a 500)."""
    tenant, issued = make_tenant()
    dispatch_id = finished(api, issued.raw)
    event = audit.audit_event(
        tenant_id=tenant.tenant_id, action="key.revoke", resource="key", actor=actor, metadata={}
    )
    tenant_storage.key_revoke(issued.key, event)  # as another process would: no cache to drop
    response = rerun(api, issued.raw, dispatch_id)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"
    listed = storage.dispatch_list(tenant_id=tenant.tenant_id, limit=10).items
    assert [d.dispatch_id for d in listed] == [dispatch_id]


def test_only_a_finished_dispatch_runs_again(api, tenant_key):
    _, key = tenant_key()
    pending = api(key).post("/api/v1/dispatches", BODY).json()["data"]["dispatchId"]
    response = rerun(api, key, pending)
    assert response.status_code == 409 and "still pending" in response.json()["error"]["message"]


def test_a_rerun_needs_the_dispatch_scope_and_the_own_tenant(api, tenant_key, actor):
    tenant, key = tenant_key()
    original = finished(api, key)
    status_only = key_create(
        tenant_id=tenant.tenant_id, name="s", scopes=(Scope.STATUS,), expires_at=None, actor=actor
    ).raw
    assert rerun(api, status_only, original).status_code == 403
    _, other = tenant_key()
    assert rerun(api, other, original).status_code == 404
    assert Client().post(f"/api/v1/dispatches/{original}/rerun").status_code == 401


def test_the_rerun_is_in_the_schema(client):
    schema = client.get("/api/schema/").content.decode()
    assert "/api/v1/dispatches/{dispatch_id}/rerun" in schema and "rerunOf" in schema


def test_the_rerun_body_key_has_the_headers_pattern_in_the_schema():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    body = schema["components"]["schemas"]["DispatchRerunInput"]["properties"]
    operation = schema["paths"]["/api/v1/dispatches/{dispatch_id}/rerun"]["post"]
    header = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
    # drf-spectacular writes a field's \x21 as \u0021 and a parameter's as given: one regex.
    assert body["idempotencyKey"]["pattern"] == header["schema"]["pattern"].replace("\\x", "\\u00")


# --- the pages -------------------------------------------------------------------------------


def rerun_form(client, dispatch_id, **changes):
    """The "Run again" form as the page fills it in (the original request, its token)."""
    html = client.get(f"/dispatches/{dispatch_id}/rerun/").content.decode()
    token = re.search(r'name="token" value="([^"]+)"', html)
    assert token is not None
    original = storage.dispatch_get(dispatch_id)
    form = {
        "task": original.task,
        "model_id": original.model_id,
        "timeout_seconds": original.timeout_seconds,
        "tags": tags_text(original.tags),
        "token": token.group(1),
    }
    return form | changes


def test_run_again_from_the_page_once_per_confirmation(api, tenant_key, login_member):
    tenant, key = tenant_key()
    client = login_member(tenant.tenant_id)
    original = finished(api, key)
    page = client.get(f"/dispatches/{original}/").content.decode()
    assert f'href="/dispatches/{original}/rerun/">Run again</a>' in page
    form = rerun_form(client, original)
    done = client.post(f"/dispatches/{original}/rerun/", form, follow=True)
    new_id = done.redirect_chain[-1][0].split("/")[-2]
    assert new_id != original and storage.dispatch_get(new_id).rerun_of == original
    html = done.content.decode()
    assert f"runs again as {new_id}" in html and '<p id="rerun-of">Runs again' in html
    twice = client.post(f"/dispatches/{original}/rerun/", form)
    assert twice["Location"] == f"/dispatches/{new_id}/"  # the same one, not a third


def test_the_rerun_page_says_why_it_did_not_start(api, tenant_key, login_member):
    tenant, key = tenant_key(Tier.FREE)
    client = login_member(tenant.tenant_id)
    original = finished(api, key, timeoutSeconds=60)
    api(key).post("/api/v1/dispatches", BODY | {"timeoutSeconds": 60})  # the one slot in use
    response = client.post(f"/dispatches/{original}/rerun/", rerun_form(client, original))
    assert response.status_code == 409
    assert "concurrency limit of 1 is reached" in response.content.decode()
    running = api(key).get("/api/v1/dispatches").json()["data"]["items"][0]["dispatchId"]
    assert client.get(f"/dispatches/{running}/rerun/").status_code == 409


def test_nobody_reruns_another_tenants_dispatch(api, tenant_key, login_member):
    _, key = tenant_key()
    original = finished(api, key)
    other, _ = tenant_key()
    outsider = login_member(other.tenant_id)
    assert outsider.get(f"/dispatches/{original}/rerun/").status_code == 404
    assert outsider.post(f"/dispatches/{original}/rerun/", {"token": "t" * 20}).status_code == 404


# --- bulk cancel -------------------------------------------------------------------------------


def test_select_several_and_cancel_them_with_one_confirmation(api, tenant_key, login_member):
    tenant, key = tenant_key()
    client = login_member(tenant.tenant_id)
    ids = [api(key).post("/api/v1/dispatches", BODY).json()["data"]["dispatchId"] for _ in range(3)]
    done = finished(api, key)
    page = client.get("/dispatches/").content.decode()
    for dispatch_id in ids:
        assert f'name="ids" value="{dispatch_id}" form="bulk-cancel"' in page
    assert f'value="{done}" form="bulk-cancel"' not in page  # nothing to cancel there
    query = "&".join(f"ids={i}" for i in [*ids, done])
    with counting_calls() as calls:
        confirm = client.get(f"/dispatches/cancel/?{query}").content.decode()
    assert calls.operations == ["BatchGetItem"]
    assert "Cancel 3 dispatches?" in confirm and "1 of the selected had already ended" in confirm
    response = client.post("/dispatches/cancel/", {"ids": [*ids, done]}, follow=True)
    html = response.content.decode()
    assert "Cancelled 3 dispatches." in html and "1 of the 4 selected" in html
    assert {storage.dispatch_get(i).status for i in ids} == {DispatchStatus.CANCELLED}
    assert storage.dispatch_get(done).status == DispatchStatus.FAILED


def test_bulk_cancel_leaves_other_tenants_alone(api, tenant_key, login_member):
    tenant, _ = tenant_key()
    _, other_key = tenant_key()
    theirs = api(other_key).post("/api/v1/dispatches", BODY).json()["data"]["dispatchId"]
    client = login_member(tenant.tenant_id)
    assert "Nothing to cancel" in client.get(f"/dispatches/cancel/?ids={theirs}").content.decode()
    client.post("/dispatches/cancel/", {"ids": [theirs]})
    assert storage.dispatch_get(theirs).status == DispatchStatus.PENDING
    assert Client().post("/dispatches/cancel/", {"ids": [theirs]}).status_code == 302
