"""What staff see after acting: messages, real key states, tenant users, a readable audit."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from outpost_admin import audit
from outpost_admin.audit import storage as audit_storage
from outpost_admin.dynamo import counting_calls, utcnow
from tenants import memberships, services
from tenants.domain import Scope, TenantStatus
from tenants.models import TenantMembership
from tests.conftest import unique_email

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def tenant_and_key(make_tenant):
    return make_tenant(name="Console Co")


def html(response):
    return response.content.decode()


def flashes(response):
    return re.findall(r'<p class="flash success"><span>([^<]*)</span>', html(response))


# --- feedback after every action -------------------------------------------------------------


def test_every_action_says_what_it_did(staff_client, tenant_and_key):
    tenant, issued = tenant_and_key
    tid, kid = tenant.tenant_id, issued.key.api_key_id
    steps = [
        ("tenants:tier", [tid], {"tier": "free", "confirm": "1"}, "is now on the free tier"),
        ("tenants:suspend", [tid], {"reason": "audit"}, "Console Co is suspended."),
        ("tenants:reactivate", [tid], {}, "Console Co is reactivated."),
        ("tenants:key-rotate", [tid, kid], {"grace_hours": 1}, "API key rotated. Copy the key"),
        ("tenants:key-revoke", [tid, kid], {}, "is revoked."),
        ("tenants:invite", [tid], {"email": unique_email("msg")}, "is invited to Console Co."),
    ]
    for name, args, data, message in steps:
        response = staff_client.post(reverse(name, args=args), data, follow=True)
        assert response.status_code == 200, name
        assert any(message in text for text in flashes(response)), (name, flashes(response))


def test_an_htmx_answer_carries_the_message_out_of_band(staff_client):
    data = {"name": "Htmx Msg Co", "email": unique_email("htmx"), "tier": "pro"}
    response = staff_client.post(
        reverse("tenants:provision"), data, headers={**HTMX, "HX-Target": "main"}
    )
    page = html(response)
    assert "<html" not in page
    assert '<div id="messages" role="status" hx-swap-oob="innerHTML">' in page
    assert "Tenant provisioned. Copy the key now" in page


def test_a_section_loaded_into_a_page_leaves_its_messages_alone(staff_client, tenant_and_key):
    """The tenant page's usage charts load into #tenant-usage: no empty message box comes
    with them to wipe out the message of the action that led to the page (issue 14, bug 1)."""
    tenant, _ = tenant_and_key
    url = f"{reverse('usage:page')}?tenant={tenant.tenant_id}&range=30"
    page = html(staff_client.get(url, headers={**HTMX, "HX-Target": "tenant-usage"}))
    assert 'id="usage-charts"' in page and 'id="messages"' not in page


def test_destructive_actions_look_destructive(staff_client, tenant_and_key):
    tenant, _ = tenant_and_key
    page = html(staff_client.get(reverse("tenants:detail", args=[tenant.tenant_id])))
    assert re.search(r'class="button danger" href="[^"]+/suspend/"', page)
    assert re.search(r'/revoke/" class="danger-link">Revoke</a>', page)
    confirm = html(staff_client.get(reverse("tenants:suspend", args=[tenant.tenant_id])))
    assert '<button type="submit" class="danger">Suspend tenant</button>' in confirm


# --- key states -------------------------------------------------------------------------------


def key_state(client, tenant_id, key_id):
    page = html(client.get(reverse("tenants:detail", args=[tenant_id])))
    row = re.search(rf'<tr id="key-{key_id}">(.*?)</tr>', page, re.S)
    assert row, key_id
    return " ".join(re.sub(r"<[^>]+>", " ", row.group(1)).split())


def test_a_rotated_key_says_when_the_old_one_stops(staff_client, tenant_and_key, actor):
    tenant, issued = tenant_and_key
    _, new = services.key_rotate(
        tenant_id=tenant.tenant_id,
        api_key_id=issued.key.api_key_id,
        grace=timedelta(minutes=58, seconds=20),
        actor=actor,
    )
    old_state = key_state(staff_client, tenant.tenant_id, issued.key.api_key_id)
    assert "rotating — old key expires in 58 min" in old_state
    assert key_state(staff_client, tenant.tenant_id, new.key.api_key_id).startswith(
        f"{new.key.key_prefix}… {issued.key.name}"
    )
    assert "active" in key_state(staff_client, tenant.tenant_id, new.key.api_key_id)


def test_keys_of_a_suspended_tenant_say_so(staff_client, tenant_and_key, actor):
    tenant, issued = tenant_and_key
    services.tenant_set_status(
        tenant_id=tenant.tenant_id, status=TenantStatus.SUSPENDED, actor=actor
    )
    assert "suspended with its tenant" in key_state(
        staff_client, tenant.tenant_id, issued.key.api_key_id
    )


def test_an_expired_key_says_expired(staff_client, tenant_and_key, actor):
    tenant, issued = tenant_and_key
    services.key_rotate(
        tenant_id=tenant.tenant_id,
        api_key_id=issued.key.api_key_id,
        grace=timedelta(0),
        actor=actor,
    )
    state = key_state(staff_client, tenant.tenant_id, issued.key.api_key_id)
    assert "expired" in state and "Rotate" not in state


def test_a_key_created_to_expire_says_when(staff_client, tenant_and_key, actor):
    tenant, _ = tenant_and_key
    issued = services.key_create(
        tenant_id=tenant.tenant_id,
        name="temporary",
        scopes=(Scope.STATUS,),
        expires_at=utcnow() + timedelta(days=3, minutes=1),
        actor=actor,
    )
    assert "active — expires in 3 days" in key_state(
        staff_client, tenant.tenant_id, issued.key.api_key_id
    )


# --- tenant users -----------------------------------------------------------------------------


@pytest.fixture
def member(tenant_and_key, actor):
    tenant, _ = tenant_and_key
    invite = memberships.tenant_user_invite(
        tenant_id=tenant.tenant_id, email=unique_email("member"), actor=actor
    )
    return tenant, invite.user


def test_the_tenant_page_lists_its_users(staff_client, member):
    tenant, user = member
    page = html(staff_client.get(reverse("tenants:detail", args=[tenant.tenant_id])))
    row = re.search(rf'<tr id="user-{user.pk}">(.*?)</tr>', page, re.S)
    assert row and user.email in row.group(1) and "invited" in row.group(1)
    assert "never" in row.group(1) and "Revoke access" in row.group(1)


def test_revoking_access_asks_first_then_signs_the_user_out(staff_client, member):
    tenant, user = member
    user.set_password("pw-member-1")
    user.save()
    member_client = Client()
    member_client.force_login(user)
    assert member_client.get("/home/").status_code == 200
    url = reverse("tenants:user-revoke", args=[tenant.tenant_id, user.pk])
    assert "Revoke access" in html(staff_client.get(url))
    response = staff_client.post(url, follow=True)
    assert any("can no longer sign in" in m for m in flashes(response))
    user.refresh_from_db()
    assert not user.is_active
    assert member_client.get("/home/").status_code == 302  # to the login page
    assert not Client().login(username=user.username, password="pw-member-1")
    events = audit.audit_list(tenant_id=tenant.tenant_id, action="user.revoke").items
    assert [e.resource for e in events] == [f"user/{user.pk}"]
    assert staff_client.post(url).status_code == 409  # already revoked: says so


def test_another_tenants_user_is_a_404(staff_client, member, make_tenant):
    _, user = member
    other, _ = make_tenant()
    url = reverse("tenants:user-revoke", args=[other.tenant_id, user.pk])
    assert staff_client.get(url).status_code == 404
    assert staff_client.post(url).status_code == 404
    assert TenantMembership.objects.get(user=user).user.is_active


def test_only_staff_revoke_access(member, django_user_model):
    tenant, user = member
    url = reverse("tenants:user-revoke", args=[tenant.tenant_id, user.pk])
    assert Client().post(url).status_code == 302
    assert Client(enforce_csrf_checks=True).post(url).status_code in (302, 403)


# --- a readable audit ---------------------------------------------------------------------------


def test_audit_details_are_labelled_values_not_reprs(staff_client, tenant_and_key, actor):
    tenant, _ = tenant_and_key
    services.key_create(
        tenant_id=tenant.tenant_id,
        name="ci",
        scopes=(Scope.DISPATCH, Scope.STATUS),
        expires_at=None,
        actor=actor,
    )
    page = html(staff_client.get(reverse("tenants:audit"), {"tenant": tenant.tenant_id}))
    assert "['" not in page and "scopes=" not in page
    assert re.search(r"<dt>Scopes</dt><dd>dispatch, status</dd>", page)
    assert re.search(r'<time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC">', page)
    assert f'title="{tenant.tenant_id}">Console Co</a>' in page  # names, id on hover


def test_the_audit_filters_by_action_prefix_actor_resource_and_text(
    staff_client, tenant_and_key, actor
):
    tenant, issued = tenant_and_key
    services.key_revoke(tenant_id=tenant.tenant_id, api_key_id=issued.key.api_key_id, actor=actor)
    url = reverse("tenants:audit")

    def actions(**query):
        page = html(staff_client.get(url, {"tenant": tenant.tenant_id, **query}))
        return set(re.findall(r"<td><code>([a-z_.]+)</code></td>", page))

    assert actions(action="key.") == {"key.revoke"}
    assert actions(action="tenant.") == {"tenant.provision"}
    assert actions(actor="teste") == {"key.revoke", "tenant.provision"}
    assert actions(actor="nobody") == set()
    assert actions(resource="key/") == {"key.revoke"}
    assert actions(q="req-test") == {"key.revoke", "tenant.provision"}
    assert actions(q="revoke") == {"key.revoke"}


def test_the_audit_exports_what_is_filtered_as_csv(staff_client, tenant_and_key, actor):
    tenant, issued = tenant_and_key
    services.key_revoke(tenant_id=tenant.tenant_id, api_key_id=issued.key.api_key_id, actor=actor)
    page = html(staff_client.get(reverse("tenants:audit"), {"tenant": tenant.tenant_id}))
    assert "/audit/export.csv?tenant=" in page
    response = staff_client.get(
        reverse("tenants:audit-export"), {"tenant": tenant.tenant_id, "action": "key."}
    )
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(html(response))))
    assert rows[0][:3] == ["time_utc", "tenant_id", "action"]
    assert [r[2] for r in rows[1:]] == ["key.revoke"]
    assert issued.raw not in html(response)
    bad = staff_client.get(reverse("tenants:audit-export"), {"action": "DROP TABLE"})
    assert bad.status_code == 400


def test_the_audit_reads_tenant_names_in_one_batch(staff_client, make_tenant):
    for _ in range(3):
        make_tenant()
    with counting_calls() as calls:
        response = staff_client.get(reverse("tenants:audit"))
    assert response.status_code == 200
    # One Query per shard of the log's index, then the names.
    assert calls.operations == ["Query"] * audit_storage.SHARDS + ["BatchGetItem"]
