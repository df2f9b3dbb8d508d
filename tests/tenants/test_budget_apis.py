"""Budgets over the API: staff set any tenant's and key's; a tenant's admin key reads its own
and may only lower its keys' budgets, never above the tenant's; every change is audited."""

import pytest
from django.test import Client

from outpost_admin import audit
from outpost_admin.dynamo import utcnow
from tenants import budgets, services
from tenants.domain import Scope

from .test_apis import TENANTS, data_of, error_of

pytestmark = pytest.mark.django_db


def put_json(client, url, data):
    return client.put(url, data, content_type="application/json")


def budget_url(tenant_id, key_id=""):
    return (
        f"{TENANTS}/{tenant_id}/keys/{key_id}/budget" if key_id else f"{TENANTS}/{tenant_id}/budget"
    )


@pytest.fixture
def tenant_with_admin(make_tenant, actor):
    """A tenant, its admin key (a client), and a second key of its own to budget."""
    tenant, _ = make_tenant()
    admin = services.key_create(
        tenant_id=tenant.tenant_id, name="ops", scopes=(Scope.ADMIN,), expires_at=None, actor=actor
    )
    worker = services.key_create(
        tenant_id=tenant.tenant_id,
        name="ci",
        scopes=(Scope.DISPATCH,),
        expires_at=None,
        actor=actor,
    )
    return tenant, Client(headers={"X-API-Key": admin.raw}), worker


def test_staff_set_a_tenants_budget_and_read_it_back_with_the_months_spend(
    staff_client, make_tenant
):
    tenant, _ = make_tenant()
    set_ = put_json(
        staff_client, budget_url(tenant.tenant_id), {"hardCents": 50000, "softCents": 40000}
    )
    data = data_of(set_)
    assert (data["hardCents"], data["softCents"], data["keyId"]) == (50000, 40000, None)
    read = data_of(staff_client.get(budget_url(tenant.tenant_id)))
    assert read["tenant"]["hardCents"] == 50000 and read["tenant"]["spentUsd"] == 0
    assert read["tenant"]["month"] == budgets.month_of(utcnow())
    (event, *_) = audit.audit_list(tenant_id=tenant.tenant_id, action="tenant.budget_set").items
    assert event.metadata["hardUsd"] == 500.0 and "previousHardUsd" not in event.metadata


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"hardCents": 100, "softCents": 200}, "softCents", 422),  # each fine, together not
        ({"hardCents": "100", "softCents": None}, "hardCents", 400),
        ({"hardCents": -1, "softCents": None}, "hardCents", 400),
        ({"hardCents": 1.5, "softCents": None}, "hardCents", 400),
        ({"softCents": None}, "hardCents", 400),
    ],
)
def test_bad_budget_input_is_refused_naming_the_field(
    staff_client, make_tenant, body, field, status
):
    tenant, _ = make_tenant()
    error = error_of(
        put_json(staff_client, budget_url(tenant.tenant_id), body), status, "VALIDATION_ERROR"
    )
    assert field in error["details"]


def test_a_key_of_another_tenant_is_a_404_on_the_admin_api(staff_client, make_tenant):
    tenant, _ = make_tenant()
    _, other_key = make_tenant()
    url = budget_url(tenant.tenant_id, other_key.key.api_key_id)
    error_of(put_json(staff_client, url, {"hardCents": 100, "softCents": None}), 404, "NOT_FOUND")


def test_a_tenants_admin_key_lowers_its_keys_budget_but_never_raises_it(tenant_with_admin, actor):
    tenant, admin, worker = tenant_with_admin
    services.budget_set(
        tenant_id=tenant.tenant_id, hard=100 * budgets.MICROS, soft=None, actor=actor
    )
    url = f"/api/v1/budget/keys/{worker.key.api_key_id}"
    # Down from no key budget to at most the tenant's: allowed.
    assert (
        data_of(put_json(admin, url, {"hardCents": 5000, "softCents": 4000}))["hardCents"] == 5000
    )
    assert (
        data_of(put_json(admin, url, {"hardCents": 3000, "softCents": None}))["hardCents"] == 3000
    )
    raised = put_json(admin, url, {"hardCents": 4000, "softCents": None})
    assert "hardCents" in error_of(raised, 409, "CONFLICT")["details"]  # the state refuses it
    removed = put_json(admin, url, {"hardCents": None, "softCents": None})
    assert "hardCents" in error_of(removed, 400, "VALIDATION_ERROR")["details"]
    assert (
        budgets.budget_get(tenant.tenant_id, api_key_id=worker.key.api_key_id, now=utcnow()).hard
        == 30 * budgets.MICROS
    )
    actions = [
        e.action
        for e in audit.audit_list(tenant_id=tenant.tenant_id, action="key.budget_set").items
    ]
    assert actions == ["key.budget_set", "key.budget_set"]


def test_an_admin_key_never_sets_a_key_above_the_tenants_budget(tenant_with_admin, actor):
    tenant, admin, worker = tenant_with_admin
    services.budget_set(
        tenant_id=tenant.tenant_id, hard=10 * budgets.MICROS, soft=None, actor=actor
    )
    above = put_json(
        admin,
        f"/api/v1/budget/keys/{worker.key.api_key_id}",
        {"hardCents": 1001, "softCents": None},
    )
    error = error_of(above, 409, "CONFLICT")
    assert "tenant" in error["details"]["hardCents"][0]


def test_an_admin_key_cannot_touch_another_tenants_key_nor_raise_its_tenants_budget(
    tenant_with_admin, make_tenant
):
    tenant, admin, _ = tenant_with_admin
    _, other = make_tenant()
    url = f"/api/v1/budget/keys/{other.key.api_key_id}"
    error_of(put_json(admin, url, {"hardCents": 1, "softCents": None}), 404, "NOT_FOUND")
    # The tenant's own budget is staff's: the admin API refuses a tenant's key.
    error_of(
        put_json(admin, budget_url(tenant.tenant_id), {"hardCents": 1, "softCents": None}),
        403,
        "AUTHORIZATION_ERROR",
    )


def test_a_key_without_the_admin_scope_cannot_lower_budgets(tenant_with_admin):
    _, _, worker = tenant_with_admin
    client = Client(headers={"X-API-Key": worker.raw})
    url = f"/api/v1/budget/keys/{worker.key.api_key_id}"
    error_of(put_json(client, url, {"hardCents": 1, "softCents": None}), 403, "AUTHORIZATION_ERROR")


def test_an_admin_key_reads_its_tenants_budgets(tenant_with_admin, actor):
    tenant, admin, worker = tenant_with_admin
    services.budget_set(tenant_id=tenant.tenant_id, hard=budgets.MICROS, soft=None, actor=actor)
    services.budget_set(
        tenant_id=tenant.tenant_id,
        api_key_id=worker.key.api_key_id,
        hard=budgets.MICROS // 2,
        soft=None,
        actor=actor,
    )
    data = data_of(admin.get("/api/v1/budget"))
    assert data["tenant"]["hardCents"] == 100
    assert [(k["keyId"], k["hardCents"]) for k in data["keys"]] == [(worker.key.api_key_id, 50)]


def test_the_budget_rules_are_the_documented_examples(staff_client, tenant_with_admin, actor):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)

    def example(path, status, name):
        answer = schema["paths"][path]["put"]["responses"][str(status)]
        return answer["content"]["application/json"]["examples"][name]["value"]["error"]

    tenant, admin, worker = tenant_with_admin
    soft_above = put_json(
        staff_client, budget_url(tenant.tenant_id), {"hardCents": 100, "softCents": 200}
    )
    assert soft_above.status_code == 422  # each amount well formed, the two together impossible
    assert soft_above.json()["error"] == example(
        "/api/v1/admin/tenants/{tenant_id}/budget", 422, "SoftAboveHard"
    )
    services.budget_set(
        tenant_id=tenant.tenant_id,
        api_key_id=worker.key.api_key_id,
        hard=10 * budgets.MICROS,
        soft=None,
        actor=actor,
    )
    raised = put_json(admin, f"/api/v1/budget/keys/{worker.key.api_key_id}", {"hardCents": 1001})
    assert raised.json()["error"] == example("/api/v1/budget/keys/{key_id}", 409, "OnlyLower")
