"""Webhook pages: the tenant's users and staff; anyone else 404s; actions are confirmed,
audited, and CSRF-protected like every form."""

import pytest
from django.test import Client

from outpost_admin.audit import audit_list
from webhooks import selectors

pytestmark = pytest.mark.django_db


@pytest.fixture
def owned(make_tenant, login_member, endpoint_for, receiver):
    tenant, _ = make_tenant()
    endpoint, _ = endpoint_for(tenant, receiver.url)
    return tenant, endpoint, login_member(tenant.tenant_id)


def test_a_tenant_user_sees_and_adds_endpoints_with_the_secret_shown_once(owned, receiver):
    tenant, _endpoint, member = owned
    page = member.get(f"/tenants/{tenant.tenant_id}/webhooks/")
    assert page.status_code == 200 and receiver.url in page.text
    added = member.post(
        f"/tenants/{tenant.tenant_id}/webhooks/new/",
        {"url": receiver.url + "2", "events": ["dispatch.succeeded"]},
    )
    assert added.status_code == 200 and "whsec_" in added.text
    assert added["Cache-Control"] == "no-store"
    assert len(selectors.endpoint_list(tenant_id=tenant.tenant_id)) == 2


def test_home_sends_a_tenant_user_to_their_webhooks(owned):
    tenant, _, member = owned
    assert member.get("/webhooks/")["Location"] == f"/tenants/{tenant.tenant_id}/webhooks/"


def test_another_tenant_s_user_gets_404(owned, make_tenant, login_member):
    tenant, endpoint, _ = owned
    other, _ = make_tenant()
    outsider = login_member(other.tenant_id)
    assert outsider.get(f"/tenants/{tenant.tenant_id}/webhooks/").status_code == 404
    url = f"/tenants/{tenant.tenant_id}/webhooks/{endpoint.endpoint_id}/"
    assert outsider.get(url).status_code == 404
    assert outsider.post(url + "delete/").status_code == 404


def test_anonymous_users_go_to_the_login_page(owned):
    tenant, _, _ = owned
    answer = Client().get(f"/tenants/{tenant.tenant_id}/webhooks/")
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]


def test_staff_manage_any_tenant_s_webhooks(owned, staff_client):
    tenant, endpoint, _ = owned
    page = staff_client.get(f"/tenants/{tenant.tenant_id}/webhooks/{endpoint.endpoint_id}/")
    assert page.status_code == 200 and "Deliveries" in page.text


def test_delete_asks_first_then_deletes_and_audits(owned):
    tenant, endpoint, member = owned
    url = f"/tenants/{tenant.tenant_id}/webhooks/{endpoint.endpoint_id}/delete/"
    asked = member.get(url)
    assert asked.status_code == 200 and "cannot be undone" in asked.text
    assert member.post(url).status_code == 302
    assert selectors.endpoint_list(tenant_id=tenant.tenant_id) == []
    actions = [e.action for e in audit_list(tenant_id=tenant.tenant_id, limit=5).items]
    assert "webhook.delete" in actions


def test_an_htmx_request_for_a_delivery_gets_only_its_attempts(owned, actor):
    from webhooks import services

    tenant, endpoint, member = owned
    test = services.endpoint_send_test(
        tenant_id=tenant.tenant_id, endpoint_id=endpoint.endpoint_id, actor=actor
    )
    url = f"/tenants/{tenant.tenant_id}/webhooks/{endpoint.endpoint_id}/deliveries/{test.event_id}/"
    fragment = member.get(url, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "Not attempted yet." in fragment.text
    assert "<html" in member.get(url).text


def test_a_bad_url_re_renders_the_form_with_a_400(owned, settings):
    settings.OUTPOST_WEBHOOK_ALLOW_PRIVATE = False
    tenant, _, member = owned
    answer = member.post(
        f"/tenants/{tenant.tenant_id}/webhooks/new/",
        {"url": "http://example.com/x", "events": ["dispatch.failed"]},
    )
    assert answer.status_code == 400 and "Must be an https URL." in answer.text


def test_recover_without_a_time_is_a_400(owned):
    tenant, endpoint, member = owned
    url = f"/tenants/{tenant.tenant_id}/webhooks/{endpoint.endpoint_id}/recover/"
    assert member.get(url + "?since=soon").status_code == 400


def test_failure_e_mail_settings_are_saved(owned):
    tenant, _, member = owned
    answer = member.post(
        f"/tenants/{tenant.tenant_id}/webhooks/notifications/",
        {"on_failure": "on", "streak": "3", "cooldown_minutes": "60"},
    )
    assert answer.status_code == 302
    saved = selectors.notify_get(tenant_id=tenant.tenant_id)
    assert saved.on_failure and saved.streak == 3 and saved.cooldown_seconds == 3600


def test_without_endpoints_the_list_says_how_to_add_one(make_tenant, login_member):
    tenant, _ = make_tenant()
    page = login_member(tenant.tenant_id).get(f"/tenants/{tenant.tenant_id}/webhooks/").text
    assert "No endpoints yet." in page
    assert f'href="/tenants/{tenant.tenant_id}/webhooks/new/">Add an endpoint</a>' in page
