"""/usage/, its CSV and the usage APIs: staff see every tenant, a tenant user their own."""

import csv
import io
import json
import re
import uuid
from collections import Counter

import pytest
from django.test import Client

from outpost_admin.dynamo import call, counting_calls, to_item, utcnow
from outpost_admin.dynamo.tables import DISPATCHES
from tenants.domain import Tier
from usage.charts import Chart, Series

from .conftest import create, finish, second_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(make_tenant, login_member):
    """A tenant with two dispatches today (one completed), its key, and a signed-in user."""
    tenant, issued = make_tenant()
    done = create(issued.raw, "claude")["dispatchId"]
    create(issued.raw, "codex")
    finish(done, "COMPLETED")
    return tenant, issued, login_member(tenant.tenant_id)


def numbers(html: str, chart_id: str) -> dict[str, dict[str, str]]:
    """The table under a chart: {day: {column: value}}."""
    table = re.search(
        rf'<table class="chart-numbers" id="numbers-{chart_id}">(.*?)</table>', html, re.S
    )
    assert table, chart_id
    heads = re.findall(r'<th scope="col">(.*?)</th>', table.group(1))
    rows = {}
    for row in re.findall(r"<tr><th scope=\"row\">(.*?)</tr>", table.group(1), re.S):
        day, rest = row.split("</th>", 1)
        rows[day] = dict(zip(heads[1:], re.findall(r"<td>(.*?)</td>", rest), strict=True))
    return rows


# --- the page -------------------------------------------------------------------------------


def test_staff_see_one_tenants_charts_by_status_agent_and_key(staff_client, owner):
    tenant, issued, _ = owner
    response = staff_client.get(f"/usage/?tenant={tenant.tenant_id}&range=7")
    assert response.status_code == 200
    html = response.content.decode()
    today = utcnow().date().isoformat()
    assert numbers(html, "by-status")[today] == {
        "success": "1",
        "failed": "0",
        "timeout": "0",
        "cancelled": "0",
        "active": "1",
        "Total": "2",
    }
    assert numbers(html, "by-agent")[today] == {"claude": "1", "codex": "1", "Total": "2"}
    assert numbers(html, "by-key")[today][issued.key.name] == "2"
    assert f"<title>{today} · success: 1</title>" in html
    assert len(numbers(html, "by-status")) == 7


def test_a_tenant_user_sees_only_their_own_tenant(owner, make_tenant):
    tenant, _, client = owner
    other, other_key = make_tenant()
    create(other_key.raw)
    html = client.get(f"/usage/?tenant={other.tenant_id}&range=7").content.decode()
    assert tenant.name in html and other.name not in html
    assert numbers(html, "by-status")[utcnow().date().isoformat()]["Total"] == "2"
    assert 'name="tenant"' not in html


def test_another_tenants_key_is_not_a_filter_choice(owner, make_tenant):
    _, _, client = owner
    _, other_key = make_tenant()
    response = client.get(f"/usage/?key={other_key.key.api_key_id}")
    assert response.status_code == 400
    assert 'id="id_key_error"' in response.content.decode()


def test_a_bad_range_is_a_400_naming_the_field(staff_client):
    response = staff_client.get("/usage/?range=custom&since=2026-02-01&until=2026-01-01")
    assert response.status_code == 400
    assert "id_since_error" in response.content.decode()
    assert staff_client.get("/usage/?range=12").status_code == 400
    unknown = staff_client.get(f"/usage/?tenant={uuid.uuid4()}")
    assert unknown.status_code == 400 and "id_tenant_error" in unknown.content.decode()


def test_staff_filter_by_a_tenant_name_picked_from_the_name_index(staff_client, owner, make_tenant):
    tenant, _, _ = owner
    form = staff_client.get("/usage/").content.decode()
    assert 'list="tenant-options"' in form and '<datalist id="tenant-options">' in form
    suggestions = staff_client.get(
        "/tenants/picker/", {"tenant": tenant.name[:-2]}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert tenant.name in suggestions
    response = staff_client.get("/usage/", {"tenant": tenant.name.upper(), "range": "7"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f"Usage of {tenant.name}" in html and numbers(html, "by-key")
    make_tenant(name=f"Twin {tenant.tenant_id[:8]}")
    make_tenant(name=f"Twin {tenant.tenant_id[:8]}")
    twins = staff_client.get("/usage/", {"tenant": f"twin {tenant.tenant_id[:8]}"})
    assert twins.status_code == 400 and "Several tenants have this name" in twins.content.decode()


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get("/usage/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_htmx_request_gets_the_content_only(staff_client):
    response = staff_client.get("/usage/?range=7", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and 'id="usage-charts"' in html
    assert "HX-Request" in response["Vary"]


def test_staff_see_every_tenant_and_the_top_tenants(staff_client, owner):
    html = staff_client.get("/usage/?range=7").content.decode()
    assert 'id="top-tenants"' in html and "by-key" not in html


# --- CSV ---------------------------------------------------------------------------------------


def test_the_csv_has_the_numbers_of_the_charts(owner):
    _, _, client = owner
    response = client.get("/usage/export.csv?range=7")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = {r["day"]: r for r in csv.DictReader(io.StringIO(response.content.decode()))}
    today = rows[utcnow().date().isoformat()]
    assert (today["dispatches"], today["status_success"], today["status_active"]) == (
        "2",
        "1",
        "1",
    )
    assert (today["agent_claude"], today["agent_codex"], today["rejected_concurrency"]) == (
        "1",
        "1",
        "0",
    )
    assert len(rows) == 7


def test_the_csv_refuses_bad_filters_with_a_400(staff_client):
    response = staff_client.get("/usage/export.csv?range=custom")
    assert response.status_code == 400 and b"since" in response.content


# --- call counts --------------------------------------------------------------------------------


def seed_dispatches(tenant_id, n):
    now = utcnow().isoformat()
    for start in range(0, n, 25):
        items = [
            {
                "PutRequest": {
                    "Item": to_item(
                        {
                            "dispatch_id": f"S{uuid.uuid4().hex}",
                            "user_id": tenant_id,
                            "agent": "claude",
                            "status": "COMPLETED",
                            "started_at": now,
                            "started_day": now[:10],
                        }
                    )
                }
            }
            for _ in range(min(25, n - start))
        ]
        call("batch_write_item", RequestItems={DISPATCHES.name: items})


def test_the_usage_page_makes_the_same_calls_at_any_data_size(staff_client, make_tenant):
    tenant, issued = make_tenant(tier=Tier.ENTERPRISE)
    create(issued.raw)
    urls = [f"/usage/?tenant={tenant.tenant_id}&range=90", "/usage/?range=30"]

    def calls():
        counts = []
        for url in urls:
            with counting_calls() as log:
                assert staff_client.get(url).status_code == 200
            counts.append(log.by_operation())
        return counts

    small = calls()
    seed_dispatches(tenant.tenant_id, 1500)
    for _ in range(20):
        create(issued.raw)
    assert calls() == small
    tenant_page, every_tenant = small
    # 90 days x 2 items (the quota count and the breakdowns) + its one key x 4 months at most
    # = 184 keys in two batches.
    assert tenant_page == Counter({"GetItem": 1, "Query": 1, "BatchGetItem": 2})
    # 30 days x 8 shards x 2 (the day shard and its top tenants) = 480 keys in five batches,
    # and the top tenants' names.
    assert every_tenant == Counter({"BatchGetItem": 6})


# --- APIs -------------------------------------------------------------------------------------


def test_the_usage_api_shows_the_keys_own_tenant(owner):
    tenant, issued, _ = owner
    response = Client().get("/api/v1/usage?days=7", HTTP_X_API_KEY=issued.raw)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["tenantId"] == tenant.tenant_id and len(data["days"]) == 7
    today = data["days"][-1]
    assert today["day"] == utcnow().date().isoformat() and today["dispatches"] == 2
    assert today["byStatus"]["success"] == 1 and today["byStatus"]["active"] == 1
    assert today["byAgent"] == {"claude": 1, "codex": 1}
    assert today["byKey"] == {issued.key.api_key_id: 2}
    assert today["rejections"] == {"concurrency": 0, "daily": 0, "budget": 0, "key_budget": 0}
    assert today["runTime"] == [
        {"agent": "claude", "runs": 1, "p50Seconds": 1.0, "p95Seconds": 1.0}
    ]
    assert data["totals"]["dispatches"] == 2


def test_the_usage_api_needs_the_list_scope(make_tenant):
    from tenants.domain import Scope

    tenant, _ = make_tenant()
    dispatch_only = second_key(tenant, scopes=(Scope.DISPATCH,))
    response = Client().get("/api/v1/usage", HTTP_X_API_KEY=dispatch_only.raw)
    assert response.status_code == 403


def test_the_usage_api_refuses_a_bad_range_naming_the_field(owner):
    _, issued, _ = owner
    response = Client().get(
        "/api/v1/usage?since=2026-01-05&until=2026-01-01", HTTP_X_API_KEY=issued.raw
    )
    assert response.status_code == 400 and "since" in response.json()["error"]["details"]


def test_the_admin_usage_api_is_for_staff_and_operators(staff_client, owner):
    tenant, issued, _ = owner
    assert Client().get("/api/v1/admin/usage", HTTP_X_API_KEY=issued.raw).status_code == 403
    response = staff_client.get(f"/api/v1/admin/usage?tenant={tenant.tenant_id}&days=7")
    assert response.status_code == 200
    assert response.json()["data"]["days"][-1]["dispatches"] == 2
    every = staff_client.get("/api/v1/admin/usage?days=7").json()["data"]
    assert every["tenantId"] is None and every["topTenants"]
    assert staff_client.get(f"/api/v1/admin/usage?tenant={uuid.uuid4()}").status_code == 404
    no_tenant = staff_client.get(f"/api/v1/admin/usage?key={uuid.uuid4()}")
    assert no_tenant.status_code == 400 and "key" in no_tenant.json()["error"]["details"]


# --- the SVG ----------------------------------------------------------------------------------


def test_a_chart_has_a_title_per_bar_a_legend_and_date_axes():
    from datetime import date

    days = [date(2026, 11, 26), date(2026, 11, 27)]
    chart = Chart(
        "c", "Dispatches <per> day", days, [Series("completed", [1, 0]), Series("failed", [2, 3])]
    )
    svg = str(chart.svg)
    assert svg.count("<rect") == 3 + 2  # three non-empty bars, two legend swatches
    assert "<title>2026-11-26 · failed: 2</title>" in svg
    assert ">11-27</text>" in svg and ">completed</text>" in svg
    assert "Dispatches &lt;per&gt; day" in svg and "<script" not in svg and "style=" not in svg
    assert chart.rows == [(days[0], [1, 2], 3), (days[1], [0, 3], 3)]


def test_a_line_chart_leaves_a_gap_on_days_without_runs():
    from datetime import date

    days = [date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27)]
    chart = Chart("l", "p95", days, [Series("claude", [5, None, 10])], kind="line", unit=" s")
    svg = str(chart.svg)
    assert svg.count("<circle") == 2 and "<title>2026-11-27 · claude: 10 s</title>" in svg


def test_the_schema_documents_the_usage_operations(tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out), "--validate", "--fail-on-warn")
    text = out.read_text()
    assert "operationId: usage_get\n" in text and "operationId: admin_usage_get\n" in text
    assert json.dumps("p95Seconds")[1:-1] in text


def test_each_charts_numbers_are_collapsed_under_it(staff_client, owner):
    tenant, _, _ = owner
    html = staff_client.get("/usage/", {"tenant": tenant.tenant_id, "range": "30"}).text
    figures = re.findall(r'<figure class="chart" id="chart-([\w-]+)">(.*?)</figure>', html, re.S)
    assert figures
    for chart_id, figure in figures:
        assert re.search(
            r'<details class="chart-numbers-wrap">\s*<summary>The numbers, by day</summary>'
            rf'.*<table class="chart-numbers" id="numbers-{chart_id}">.*</table>.*</details>',
            figure,
            re.S,
        ), chart_id
