"""Staff's "Operator keys" page (issue 14, point 7): the operator scope is granted only there,
after a warning and the key's name typed again; those keys are listed there and badged in
their tenant's key list; the ordinary key form no longer offers the scope."""

from collections import Counter

import pytest

from outpost_admin.audit import audit_list
from outpost_admin.dynamo import counting_calls
from tenants import selectors, storage
from tenants.domain import Scope

pytestmark = pytest.mark.django_db
URL = "/operator-keys/"


def issue(client, tenant, name="fleet-bot", confirm=None, **extra):
    data = {
        "tenant": tenant.tenant_id,
        "name": name,
        "confirm": name if confirm is None else confirm,
    }
    return client.post(URL, {**data, **extra})


def test_staff_issue_an_operator_key_after_typing_its_name(staff_client, make_tenant):
    tenant, _ = make_tenant()
    response = issue(staff_client, tenant)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Operator key created" in html and 'id="raw-key"' in html  # shown once
    (key,) = [k for k in selectors.key_list(tenant_id=tenant.tenant_id) if k.name == "fleet-bot"]
    assert key.scopes == (Scope.OPERATOR,)
    (event,) = [
        e
        for e in audit_list(tenant_id=tenant.tenant_id).items
        if e.action == "key.create" and e.metadata.get("name") == "fleet-bot"
    ]
    assert event.metadata["scopes"] == ["operator"] and event.actor
    listed = staff_client.get(URL).content.decode()
    assert f'id="operator-key-{key.api_key_id}"' in listed and tenant.name in listed


def test_a_wrong_confirmation_is_a_field_error_and_issues_nothing(staff_client, make_tenant):
    tenant, _ = make_tenant()
    response = issue(staff_client, tenant, confirm="fleet-bo")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_confirm_error"' in html and "type it exactly" in html
    assert 'id="raw-key"' not in html
    assert [k.name for k in selectors.key_list(tenant_id=tenant.tenant_id)] == ["default"]


def test_an_unknown_tenant_and_missing_fields_are_field_errors(staff_client):
    response = staff_client.post(URL, {"tenant": "No Such Tenant Inc", "name": "x", "confirm": "x"})
    assert response.status_code == 400
    assert "No tenant has this name or id." in response.content.decode()
    response = staff_client.post(URL, {})
    html = response.content.decode()
    assert response.status_code == 400
    assert all(f'id="id_{f}_error"' in html for f in ("tenant", "name", "confirm"))


def test_the_page_warns_and_carries_csrf(staff_client):
    html = staff_client.get(URL).content.decode()
    assert 'id="operator-warning"' in html and "every tenant" in html
    assert "csrfmiddlewaretoken" in html


def test_a_post_without_csrf_is_refused(staff_user, make_tenant):
    from django.test import Client

    tenant, _ = make_tenant()
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert issue(client, tenant).status_code == 403


def test_only_staff_reach_it(client, make_tenant, login_member):
    tenant, _ = make_tenant()
    member = login_member(tenant.tenant_id)
    assert member.get(URL).status_code in (302, 403, 404)
    assert issue(member, tenant).status_code in (302, 403, 404)
    anonymous = client.get(URL)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert [k.name for k in selectors.key_list(tenant_id=tenant.tenant_id)] == ["default"]


def test_the_ordinary_key_form_no_longer_offers_the_operator_scope(staff_client, make_tenant):
    tenant, _ = make_tenant()
    form = staff_client.get(f"/tenants/{tenant.tenant_id}/keys/new/").content.decode()
    assert 'value="operator"' not in form and 'value="admin"' in form
    response = staff_client.post(
        f"/tenants/{tenant.tenant_id}/keys/new/", {"name": "sneaky", "scopes": ["operator"]}
    )
    assert response.status_code == 400 and 'id="id_scopes_error"' in response.content.decode()
    assert "sneaky" not in [k.name for k in selectors.key_list(tenant_id=tenant.tenant_id)]


def test_an_operator_key_carries_a_badge_in_its_tenants_key_list(staff_client, make_tenant):
    tenant, _ = make_tenant()
    issue(staff_client, tenant)
    html = staff_client.get(f"/tenants/{tenant.tenant_id}/").content.decode()
    rows = html.split('id="keys"', 1)[1].split("</table>", 1)[0].split("<tr id=")[1:]
    (operator_row,) = [r for r in rows if "fleet-bot" in r]
    assert 'class="badge operator"' in operator_row
    assert all('class="badge operator"' not in r for r in rows if "fleet-bot" not in r)


def test_keys_issued_with_the_operator_scope_elsewhere_are_listed_too(
    staff_client, make_tenant, operator_key
):
    tenant, _ = make_tenant()
    issued = operator_key(tenant.tenant_id)  # the admin API's and the shell's path
    html = staff_client.get(URL).content.decode()
    assert f'id="operator-key-{issued.key.api_key_id}"' in html


def test_the_list_is_a_query_and_one_batch(staff_client, make_tenant):
    tenant, _ = make_tenant()
    issue(staff_client, tenant)
    issue(staff_client, tenant, name="second-bot")
    with counting_calls() as log:
        assert staff_client.get(URL).status_code == 200
    assert log.by_operation() == Counter({"Query": 1, "BatchGetItem": 1})


def test_names_are_escaped(staff_client, make_tenant):
    tenant, _ = make_tenant()
    issue(staff_client, tenant, name="<img src=x>")
    html = staff_client.get(URL).content.decode()
    assert "&lt;img src=x&gt;" in html and "<img src=x>" not in html


def test_a_revoked_operator_key_stays_listed_as_revoked(staff_client, make_tenant, actor):
    from tenants import services

    tenant, _ = make_tenant()
    issue(staff_client, tenant)
    key = next(k for k in selectors.key_list(tenant_id=tenant.tenant_id) if k.name == "fleet-bot")
    services.key_revoke(tenant_id=tenant.tenant_id, api_key_id=key.api_key_id, actor=actor)
    row = staff_client.get(URL).content.decode().split(f'id="operator-key-{key.api_key_id}"')[1]
    assert ">revoked<" in row.split("</tr>", 1)[0]
    assert storage.key_get(key.api_key_id).status == "revoked"
