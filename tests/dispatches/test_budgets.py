"""Budgets that hold and reset (issue 16, point 3): the create's own transaction refuses a
create once this month's recorded spend has reached a hard budget, the terminal write
records the spend, a month is a new count, and a change mid-month counts against what was
really spent."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dispatches import costs, lifecycle, storage
from dispatches.domain import DispatchStatus
from outpost_admin.dynamo import call, counting_calls, from_item, to_item, transact, utcnow
from outpost_admin.dynamo.client import client
from outpost_admin.dynamo.sizes import item_size
from outpost_admin.dynamo.tables import TENANTS
from tenants import budgets, counters, services
from tenants import storage as tenant_storage
from tenants.domain import Scope
from tests.conftest import roll_up

from .conftest import BODY
from .test_rerun_and_bulk import rerun_form

pytestmark = pytest.mark.django_db
DOLLAR = budgets.MICROS


def spend(tenant_id, micros, *, key_id="", when=None):
    """Spend recorded as a terminal write records it."""
    transact(
        budgets.record_spend(tenant_id, api_key_id=key_id, micros=micros, now=when or utcnow())
    )


def budget_item(tenant_id, sk="BUDGET"):
    item = call("get_item", TableName=TENANTS.name, Key=to_item({"tenant_id": tenant_id, "sk": sk}))
    return from_item(item.get("Item", {}))


def key_id_of(key_raw, api):
    return api(key_raw).get("/api/v1/me").json()["data"]["key"]["id"]


@pytest.fixture(autouse=True)
def _counted_after():
    """The refusals these tests leave are counted before the next module's (which count
    what the stream holds) run."""
    yield
    roll_up()


@pytest.fixture
def transaction_items():
    """The items each TransactWriteItems names, with its action kind."""
    seen: list[list[tuple[str, str, str]]] = []

    def capture(params, model, **_):
        body = json.loads(params["body"])
        seen.append(
            [
                (kind, a["TableName"], json.dumps(a.get("Key") or a["Item"], sort_keys=True))
                for entry in body["TransactItems"]
                for kind, a in entry.items()
            ]
        )

    events = client().meta.events
    events.register("before-call.dynamodb.TransactWriteItems", capture)
    yield seen
    events.unregister("before-call.dynamodb.TransactWriteItems", capture)


def test_a_create_at_the_tenants_hard_budget_is_a_429_naming_it_and_its_reset(
    api, tenant_key, actor
):
    tenant, key = tenant_key()
    services.budget_set(tenant_id=tenant.tenant_id, hard=5 * DOLLAR, soft=None, actor=actor)
    spend(tenant.tenant_id, 5 * DOLLAR)
    response = api(key).post("/api/v1/dispatches", BODY)
    assert response.status_code == 429, response.json()
    error = response.json()["error"]
    assert error["code"] == "BUDGET_EXCEEDED"
    now = datetime.now(UTC)
    first = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    resets = first.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert error["details"] == {
        "budget": "tenant",
        "hardUsd": 5.0,
        "spentUsd": 5.0,
        "resetsAt": resets,
    }
    assert "$5.00" in error["message"] and resets in error["message"]
    assert 0 < int(response["Retry-After"]) <= 31 * 86400
    # Nothing half-written: no slot taken, no day counted.
    assert tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs == 0
    assert counters.quota_day_count(tenant.tenant_id, utcnow().date()) == 0


def test_under_the_budget_the_create_is_still_one_transaction_which_checks_both_budgets(
    api, tenant_key, actor, transaction_items
):
    tenant, key = tenant_key()
    key_id = key_id_of(key, api)
    services.budget_set(tenant_id=tenant.tenant_id, hard=5 * DOLLAR, soft=None, actor=actor)
    spend(tenant.tenant_id, 4 * DOLLAR, key_id=key_id)
    transaction_items.clear()
    with counting_calls() as log:
        response = api(key).post("/api/v1/dispatches", BODY)
    assert response.status_code == 201
    assert log.operations == ["TransactWriteItems"]
    checks = [
        json.loads(k)
        for kind, table, k in transaction_items[0]
        if kind == "ConditionCheck" and table == TENANTS.name
    ]
    assert [(c["tenant_id"]["S"], c["sk"]["S"]) for c in checks] == [
        (tenant.tenant_id, "BUDGET"),
        (tenant.tenant_id, f"BUDGET#KEY#{key_id}"),
    ]


def test_the_finish_records_what_it_cost_against_the_tenant_and_the_key_this_month(
    api, tenant_key, transaction_items
):
    tenant, key = tenant_key()
    key_id = key_id_of(key, api)
    created = api(key).post("/api/v1/dispatches", BODY).json()["data"]
    dispatch = storage.dispatch_get(created["dispatchId"])
    claimed = storage.dispatch_claim(dispatch, worker_id="w-budget", now=utcnow())
    assert claimed is not None
    transaction_items.clear()
    tokens = costs.Tokens(20_000, 5_000, 25_000, "parsed")
    assert lifecycle.dispatch_finish(claimed, status=DispatchStatus.COMPLETED, tokens=tokens)
    total = (storage.dispatch_get(dispatch.dispatch_id).cost or {})["total"]
    micros = round(float(total) * DOLLAR)
    assert micros > 0
    month = budgets.month_of(utcnow())
    assert budget_item(tenant.tenant_id)[f"spend_{month}"] == micros
    assert budget_item(tenant.tenant_id, f"BUDGET#KEY#{key_id}")[f"spend_{month}"] == micros
    assert len(transaction_items) == 1  # in the finish's own transaction
    # Finishing again changes nothing: the spend is recorded once.
    assert not lifecycle.dispatch_finish(claimed, status=DispatchStatus.COMPLETED)
    assert budget_item(tenant.tenant_id)[f"spend_{month}"] == micros


def test_a_cancel_records_its_cost_too(api, tenant_key, actor):
    tenant, key = tenant_key()
    created = api(key).post("/api/v1/dispatches", BODY).json()["data"]
    dispatch = storage.dispatch_get(created["dispatchId"])
    an_hour_old = replace(dispatch, started_at=dispatch.started_at - timedelta(hours=1))
    lifecycle.dispatch_cancel(dispatch=an_hour_old, actor=actor)
    month = budgets.month_of(utcnow())
    assert budget_item(tenant.tenant_id)[f"spend_{month}"] > 0


def test_lowering_the_budget_below_this_months_spend_refuses_the_next_create_and_raising_it_lets_it_through(
    api, tenant_key, actor
):
    tenant, key = tenant_key()
    services.budget_set(tenant_id=tenant.tenant_id, hard=100 * DOLLAR, soft=None, actor=actor)
    spend(tenant.tenant_id, 30 * DOLLAR)
    assert api(key).post("/api/v1/dispatches", BODY).status_code == 201
    services.budget_set(tenant_id=tenant.tenant_id, hard=20 * DOLLAR, soft=None, actor=actor)
    refused = api(key).post("/api/v1/dispatches", BODY)
    assert refused.status_code == 429
    assert refused.json()["error"]["details"]["spentUsd"] == 30.0  # the spend, untouched
    services.budget_set(tenant_id=tenant.tenant_id, hard=40 * DOLLAR, soft=None, actor=actor)
    assert api(key).post("/api/v1/dispatches", BODY).status_code == 201
    # Setting a budget never starts the month's count again, nor adds to it.
    month = budgets.month_of(utcnow())
    assert budget_item(tenant.tenant_id)[f"spend_{month}"] == 30 * DOLLAR


def test_a_budget_set_for_the_first_time_mid_month_counts_only_what_was_spent(
    api, tenant_key, actor
):
    """A new budget above this month's spend lets creates through: nothing from an earlier
    month, and nothing but recorded spend, counts against it."""
    tenant, key = tenant_key()
    last_month = utcnow().replace(day=1) - timedelta(days=1)
    spend(tenant.tenant_id, 500 * DOLLAR, when=last_month)
    spend(tenant.tenant_id, 2 * DOLLAR)
    services.budget_set(tenant_id=tenant.tenant_id, hard=3 * DOLLAR, soft=DOLLAR, actor=actor)
    assert api(key).post("/api/v1/dispatches", BODY).status_code == 201


def test_the_month_rolls_over_by_itself(api, tenant_key, actor, monkeypatch):
    """Spend is counted by the month it was recorded in: at the first of the next month the
    count starts at nothing, with nothing run by hand."""
    tenant, key = tenant_key()
    services.budget_set(tenant_id=tenant.tenant_id, hard=DOLLAR, soft=None, actor=actor)
    end_of_month = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    spend(tenant.tenant_id, DOLLAR, when=end_of_month)
    monkeypatch.setattr(lifecycle, "utcnow", lambda: end_of_month)
    refused = api(key).post("/api/v1/dispatches", BODY)
    assert refused.status_code == 429
    assert refused.json()["error"]["details"]["resetsAt"] == "2027-01-01T00:00:00.000Z"
    monkeypatch.setattr(lifecycle, "utcnow", lambda: datetime(2027, 1, 1, tzinfo=UTC))
    assert api(key).post("/api/v1/dispatches", BODY).status_code == 201


def test_the_keys_budget_refuses_that_key_alone(api, tenant_key, actor):
    tenant, key = tenant_key()
    key_id = key_id_of(key, api)
    other = services.key_create(
        tenant_id=tenant.tenant_id,
        name="other",
        scopes=(Scope.DISPATCH,),
        expires_at=None,
        actor=actor,
    )
    services.budget_set(
        tenant_id=tenant.tenant_id, api_key_id=key_id, hard=DOLLAR, soft=None, actor=actor
    )
    spend(tenant.tenant_id, DOLLAR, key_id=key_id)
    refused = api(key).post("/api/v1/dispatches", BODY)
    assert refused.status_code == 429
    assert refused.json()["error"]["details"]["budget"] == "key"
    assert api(other.raw).post("/api/v1/dispatches", BODY).status_code == 201


def test_the_budget_items_are_the_tenants_own_and_small(tenant_key, actor):
    tenant, _ = tenant_key()
    services.budget_set(tenant_id=tenant.tenant_id, hard=DOLLAR, soft=None, actor=actor)
    now = utcnow()
    for months_ago in reversed(range(30)):  # a tenant spending every month for years
        spend(tenant.tenant_id, 1, when=now - timedelta(days=31 * months_ago))
    item = budget_item(tenant.tenant_id)
    names = sorted(n for n in item if n.startswith("spend_"))
    assert names == [
        f"spend_{budgets.month_of(now - timedelta(days=31))}",
        f"spend_{budgets.month_of(now)}",
    ]
    raw = call(
        "get_item",
        TableName=TENANTS.name,
        Key=to_item({"tenant_id": tenant.tenant_id, "sk": "BUDGET"}),
    )
    assert item_size(raw["Item"]) < 1024


def test_a_rerun_from_the_page_is_refused_by_the_budget_and_says_so_in_dollars(
    api, tenant_key, actor, login_member
):
    tenant, key = tenant_key()
    client = login_member(tenant.tenant_id)
    created = api(key).post("/api/v1/dispatches", BODY).json()["data"]
    assert api(key).post(f"/api/v1/dispatches/{created['dispatchId']}/cancel").status_code == 200
    services.budget_set(tenant_id=tenant.tenant_id, hard=2 * DOLLAR, soft=None, actor=actor)
    spend(tenant.tenant_id, 3 * DOLLAR)
    form = rerun_form(client, created["dispatchId"])
    response = client.post(f"/dispatches/{created['dispatchId']}/rerun/", form)
    assert response.status_code == 409
    assert "has reached the tenant&#x27;s budget of $2.00" in response.content.decode()


def test_the_control_planes_route_refuses_with_the_same_answer(api, tenant_key, actor):
    tenant, key = tenant_key()
    services.budget_set(tenant_id=tenant.tenant_id, hard=DOLLAR, soft=None, actor=actor)
    spend(tenant.tenant_id, DOLLAR)
    response = api(key).post("/dispatch", BODY)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "BUDGET_EXCEEDED"


def test_a_budget_refusal_shows_in_the_usage_figures_by_its_limit(api, tenant_key, actor):
    from usage.selectors import usage_report

    tenant, key = tenant_key()
    services.budget_set(tenant_id=tenant.tenant_id, hard=DOLLAR, soft=None, actor=actor)
    spend(tenant.tenant_id, DOLLAR)
    assert api(key).post("/api/v1/dispatches", BODY).status_code == 429
    roll_up()
    today = utcnow().date()
    report = usage_report(tenant_id=tenant.tenant_id, since=today, until=today)
    assert report.totals.rejections == {"concurrency": 0, "daily": 0, "budget": 1, "key_budget": 0}
