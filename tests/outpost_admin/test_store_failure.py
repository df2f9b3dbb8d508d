"""Health checks, and what callers see when DynamoDB cannot be reached or throttles us."""

from collections.abc import Iterator

import pytest
from botocore.stub import Stubber
from django.test import RequestFactory
from django.urls import reverse

from outpost_admin.dynamo import Unavailable, counting_calls
from outpost_admin.dynamo import client as dynamodb_client
from outpost_admin.middleware import nothing_changed
from tenants import keys, storage
from tenants.domain import TenantStatus
from tests.conftest import answers_lost, unique_email, unreachable_store

BANNER = "The data store is unavailable right now"
UNCHANGED = "Nothing was changed"
MAYBE_SAVED = "it may or may not have been saved"


@pytest.fixture
def store_down() -> Iterator[None]:
    with unreachable_store():
        yield


def assert_api_unavailable(response):
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["meta"]["requestId"] == response["X-Request-ID"]
    assert int(response["Retry-After"]) > 0


# --- health while the store answers ------------------------------------------------------------


def test_liveness_never_touches_the_store(client):
    with counting_calls() as log:
        response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "alive"
    assert log.count == 0


def test_readiness_asks_the_store_once(client):
    with counting_calls() as log:
        response = client.get("/health/ready")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "ready" and data["checks"]["dynamodb"]["status"] == "pass"
    assert log.operations == ["GetItem"]


def test_overall_health_lists_its_checks(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["data"]["status"] == "healthy"
    assert body["data"]["checks"]["dynamodb"]["status"] == "pass"
    assert response["Cache-Control"] == "no-store" and response["X-Request-ID"]


# --- the store is unreachable ----------------------------------------------------------------------


def test_liveness_stays_up_when_the_store_is_down(client, store_down):
    assert client.get("/health/live").status_code == 200


def test_readiness_is_a_503_when_the_store_is_down(client, store_down):
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["data"]["checks"]["dynamodb"]["status"] == "fail"
    assert response["Retry-After"]


def test_overall_health_is_a_503_when_the_store_is_down(client, store_down):
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["data"]["checks"]["dynamodb"] == {"status": "fail", "error": "Unavailable"}


def test_the_api_answers_503_with_retry_after_when_the_store_is_down(client, store_down):
    assert_api_unavailable(client.get("/api/v1/me", headers={"X-API-Key": keys.generate()}))


def test_the_admin_api_answers_503_and_writes_nothing_when_the_store_is_down(staff_client):
    email = unique_email()
    with unreachable_store():
        assert_api_unavailable(staff_client.get("/api/v1/admin/tenants"))
        body = {"name": "Down Co", "email": email}
        response = staff_client.post("/api/v1/admin/tenants", body, content_type="application/json")
        assert_api_unavailable(response)
    assert storage.tenant_id_by_email(email) is None


def test_a_malformed_key_is_still_a_401_when_the_store_is_down(client, store_down):
    assert client.get("/api/v1/me", headers={"X-API-Key": "otp_nope"}).status_code == 401


def test_a_recently_verified_key_keeps_working_while_the_store_is_down(client, make_tenant):
    _, issued = make_tenant()
    assert client.get("/api/v1/me", headers={"X-API-Key": issued.raw}).status_code == 200
    with unreachable_store():
        response = client.get("/api/v1/me", headers={"X-API-Key": issued.raw})
    assert response.status_code == 200


def test_a_page_shows_the_banner_with_a_503_when_the_store_is_down(staff_client, store_down):
    response = staff_client.get(reverse("tenants:list"))
    assert response.status_code == 503
    assert BANNER in response.content.decode() and "<html" in response.content.decode()
    assert response["Retry-After"]


def test_a_form_post_shows_the_banner_with_a_503_when_the_store_is_down(staff_client, store_down):
    data = {"name": "Down Co", "email": unique_email(), "tier": "pro"}
    response = staff_client.post(reverse("tenants:provision"), data)
    assert response.status_code == 503 and BANNER in response.content.decode()


def test_a_page_that_only_read_says_nothing_was_changed(staff_client, store_down):
    content = staff_client.get(reverse("tenants:list")).content.decode()
    assert UNCHANGED in content and MAYBE_SAVED not in content


def test_a_write_whose_answer_was_lost_never_says_nothing_was_changed(staff_client, make_tenant):
    tenant, _ = make_tenant()
    url = reverse("tenants:suspend", args=[tenant.tenant_id])
    with answers_lost() as lost:
        response = staff_client.post(
            url, {"reason": "Unpaid invoice"}, headers={"HX-Request": "true"}
        )
    content = response.content.decode()
    assert lost and response.status_code == 503 and response["Retry-After"]
    assert MAYBE_SAVED in content and UNCHANGED not in content
    assert storage.tenant_get(tenant.tenant_id).status == TenantStatus.SUSPENDED  # it was


def test_an_api_write_whose_answer_was_lost_says_the_outcome_is_unknown(staff_client, make_tenant):
    tenant, _ = make_tenant()
    url = f"/api/v1/admin/tenants/{tenant.tenant_id}"
    with answers_lost():
        response = staff_client.patch(url, {"tier": "enterprise"}, content_type="application/json")
    assert_api_unavailable(response)
    assert response.json()["error"]["details"] == {"outcome": "unknown"}
    assert "may or may not have been made" in response.json()["error"]["message"]


def test_an_api_read_says_nothing_was_changed(client, store_down):
    response = client.get("/api/v1/me", headers={"X-API-Key": keys.generate()})
    assert "nothing was changed" in response.json()["error"]["message"]
    assert response.json()["error"]["details"] == {}


@pytest.mark.parametrize(
    ("calls", "certainly_refused", "unchanged"),
    [
        (["GetItem", "Query"], False, True),  # only reads were sent
        (["GetItem", "TransactWriteItems"], True, True),  # the one write was refused unsent
        (["GetItem", "TransactWriteItems"], False, False),  # the one write's answer was lost
        (["TransactWriteItems", "GetItem"], True, False),  # a write went through, a read failed
        (["PutItem", "TransactWriteItems"], True, False),  # an earlier write went through
    ],
)
def test_nothing_was_changed_only_when_certain(calls, certainly_refused, unchanged):
    request = RequestFactory().post("/")
    request.store_calls = calls  # type: ignore[attr-defined]
    exc = Unavailable("down")
    if not certainly_refused:
        exc.__cause__ = TimeoutError("no answer")
    assert nothing_changed(request, exc) is unchanged


def test_an_htmx_request_gets_only_the_banner_when_the_store_is_down(staff_client, store_down):
    response = staff_client.get(reverse("tenants:list"), headers={"HX-Request": "true"})
    assert response.status_code == 503
    content = response.content.decode()
    assert BANNER in content and "<html" not in content
    assert response["HX-Retarget"] == "#banner"


def test_signing_in_works_when_the_store_is_down(client, staff_user, store_down):
    response = client.post("/accounts/login/", {"username": "staff", "password": "pw-staff-1"})
    assert response.status_code == 302


# --- the store throttles us -------------------------------------------------------------------------


def test_the_api_answers_503_when_the_store_throttles(client):
    with Stubber(dynamodb_client()) as stub:
        stub.add_client_error(
            "query", "ProvisionedThroughputExceededException", http_status_code=400
        )
        response = client.get("/api/v1/me", headers={"X-API-Key": keys.generate()})
    assert_api_unavailable(response)


def test_a_page_shows_the_banner_when_the_store_throttles(staff_client, make_tenant):
    tenant, _ = make_tenant()
    with Stubber(dynamodb_client()) as stub:
        stub.add_client_error("get_item", "ThrottlingException", http_status_code=400)
        response = staff_client.get(reverse("tenants:detail", args=[tenant.tenant_id]))
    assert response.status_code == 503 and BANNER in response.content.decode()
