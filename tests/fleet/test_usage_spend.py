"""Spend in the usage roll-ups (issue 16, point 2): what the dispatches that ended each day
cost, by agent, model and key, counted from the stream with their outcome (so exactly once),
and shown in the usage API, CSV and page."""

import csv
import io

import pytest
from django.test import Client

from dispatches import costs, storage
from dispatches import lifecycle as services
from dispatches.domain import DispatchStatus
from outpost_admin.dynamo import utcnow
from tests.conftest import roll_up
from usage.selectors import usage_report

from .conftest import create, second_key

pytestmark = pytest.mark.django_db
TOKENS = costs.Tokens(40_000, 10_000, 50_000, "parsed")


def finish_with_tokens(dispatch_id):
    dispatch = storage.dispatch_get(dispatch_id)
    claimed = storage.dispatch_claim(dispatch, worker_id="w-spend", now=utcnow())
    assert claimed is not None
    assert services.dispatch_finish(claimed, status=DispatchStatus.COMPLETED, tokens=TOKENS)
    roll_up()
    total = (storage.dispatch_get(dispatch_id).cost or {})["total"]
    return round(float(total) * 1_000_000)


@pytest.fixture
def spending_tenant(make_tenant):
    """Key A: two claude dispatches ended; key B: one codex ended and one still pending."""
    tenant, first = make_tenant()
    second = second_key(tenant)
    a = [create(first.raw, "claude")["dispatchId"] for _ in range(2)]
    b = [create(second.raw, "codex")["dispatchId"] for _ in range(2)]
    spent_a = sum(finish_with_tokens(d) for d in a)
    spent_b = finish_with_tokens(b[0])
    return tenant, (first, spent_a), (second, spent_b)


def today(tenant_id, **filters):
    day = utcnow().date()
    return usage_report(tenant_id=tenant_id, since=day, until=day, **filters).days[-1]


def test_spend_is_counted_by_agent_model_and_key_once(spending_tenant):
    tenant, (first, spent_a), (second, spent_b) = spending_tenant
    assert spent_a > 0 and spent_b > 0
    day = today(tenant.tenant_id)
    assert day.spend == spent_a + spent_b
    assert day.spend_by_agent == {"claude": spent_a, "codex": spent_b}
    assert day.spend_by_model == {"claude-opus-4-5-20251101": spent_a, "gpt-5.1-codex-max": spent_b}
    assert day.spend_by_key == {first.key.api_key_id: spent_a, second.key.api_key_id: spent_b}
    roll_up()  # the same records again: nothing twice
    assert today(tenant.tenant_id).spend == spent_a + spent_b
    by_key = today(tenant.tenant_id, key_id=second.key.api_key_id)
    assert (by_key.spend, by_key.spend_by_agent) == (spent_b, {"codex": spent_b})
    assert today(tenant.tenant_id, agent="claude").spend == spent_a


def test_spend_across_tenants_counts_every_tenant(spending_tenant):
    _, (_, spent_a), (_, spent_b) = spending_tenant
    day = utcnow().date()
    everyone = usage_report(tenant_id=None, since=day, until=day).days[-1]
    assert everyone.spend >= spent_a + spent_b  # other tests' tenants spend too
    assert everyone.spend_by_agent["codex"] >= spent_b


def test_the_usage_api_csv_and_page_show_the_spend(spending_tenant, login_member):
    tenant, (first, spent_a), (_, spent_b) = spending_tenant
    data = Client().get("/api/v1/usage?days=7", HTTP_X_API_KEY=first.raw).json()["data"]["days"][-1]
    assert data["spendUsd"] == (spent_a + spent_b) / 1_000_000
    assert data["spendByAgent"] == {"claude": spent_a / 1_000_000, "codex": spent_b / 1_000_000}
    assert data["spendByKey"][first.key.api_key_id] == spent_a / 1_000_000
    member = login_member(tenant.tenant_id)
    rows = list(
        csv.DictReader(io.StringIO(member.get("/usage/export.csv?range=7").content.decode()))
    )
    assert rows[-1]["spend_usd"] == f"{(spent_a + spent_b) / 1_000_000:.6f}"
    assert rows[-1]["spend_usd_codex"] == f"{spent_b / 1_000_000:.6f}"
    page = member.get("/usage/?range=7").content.decode()
    assert 'id="chart-spend-by-agent"' in page and 'id="chart-spend-by-model"' in page
    assert f'<strong id="usage-spend">${(spent_a + spent_b) / 1_000_000:,.2f}</strong>' in page
    assert 'id="chart-spend-by-key"' in page
