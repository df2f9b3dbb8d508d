"""A key's own page (issue 14, point 6): outcomes and refusals per day from its month items,
its last requests (recorded off the request path by the key-usage flush), first and last use."""

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.test import Client

from outpost_admin.dynamo import call, counting_calls, utcnow
from outpost_admin.dynamo.tables import TENANTS
from tenants import authentication, key_requests
from tenants.domain import Tier
from tenants.key_requests import KeyRequest

from .conftest import create, finish, second_key
from .test_usage_pages import numbers

pytestmark = pytest.mark.django_db


def page_of(client, key_id):
    return client.get(f"/usage/keys/{key_id}/")


def get_dispatch(raw_key, dispatch_id, expect=200):
    response = Client().get(f"/api/v1/dispatches/{dispatch_id}", HTTP_X_API_KEY=raw_key)
    assert response.status_code == expect
    return response


@pytest.fixture
def used_key(make_tenant):
    """A free tenant's key that created a dispatch (finished), was refused once by the
    concurrency limit, and read the dispatch; all of it flushed."""
    tenant, issued = make_tenant(tier=Tier.FREE)
    first = create(issued.raw)["dispatchId"]
    create(issued.raw, expect=429)
    finish(first, "COMPLETED")
    get_dispatch(issued.raw, first)
    authentication.usage.flush_all()
    return tenant, issued, first


def test_staff_see_outcomes_refusals_and_the_last_requests(staff_client, used_key):
    tenant, issued, first = used_key
    response = page_of(staff_client, issued.key.api_key_id)
    assert response.status_code == 200
    html = response.content.decode()
    today = utcnow().date().isoformat()
    assert numbers(html, "by-outcome")[today]["success"] == "1"
    assert numbers(html, "by-outcome")[today]["Total"] == "1"
    assert numbers(html, "refusals")[today] == {
        "concurrency": "1",
        "daily": "0",
        "budget": "0",
        "key_budget": "0",
        "Total": "1",
    }
    table = html.split('id="key-requests"', 1)[1].split("</table>", 1)[0]
    rows = table.split("<tr>")[2:]  # after the header row
    assert len(rows) == 3
    assert f"GET /api/v1/dispatches/{first}" in rows[0] and "<td>200</td>" in rows[0]
    assert "POST /api/v1/dispatches" in rows[1] and "<td>429</td>" in rows[1]
    assert "POST /api/v1/dispatches" in rows[2] and "<td>201</td>" in rows[2]
    assert f'href="/dispatches/{first}/"' in rows[2]
    assert tenant.name in html
    first_use = html.split('id="key-first-use">', 1)[1].split("</dd>", 1)[0]
    last_use = html.split('id="key-last-use">', 1)[1].split("</dd>", 1)[0]
    assert "never" not in first_use and "never" not in last_use
    assert html.split('id="key-scopes">', 1)[1].startswith(", ".join(issued.key.scopes))


def test_first_use_stays_the_first(make_tenant, settings):
    _, issued = make_tenant()
    get_dispatch(issued.raw, "01ARZ3NDEKTSV4RRFFQ69G5FAV", expect=404)
    authentication.usage.flush_all()
    from tenants import storage

    first = storage.key_get(issued.key.api_key_id).first_used_at
    settings.API_KEY_USAGE_FLUSH_SECONDS = 0
    get_dispatch(issued.raw, "01ARZ3NDEKTSV4RRFFQ69G5FAV", expect=404)
    authentication.usage.flush_all()
    again = storage.key_get(issued.key.api_key_id)
    assert first is not None and again.first_used_at == first
    assert again.last_used_at is not None and again.last_used_at >= first


def test_a_tenant_user_sees_their_own_key_and_another_tenants_is_a_404(
    used_key, make_tenant, login_member
):
    tenant, issued, _ = used_key
    client = login_member(tenant.tenant_id)
    assert page_of(client, issued.key.api_key_id).status_code == 200
    other, other_key = make_tenant()
    assert page_of(client, other_key.key.api_key_id).status_code == 404
    assert page_of(client, "00000000-0000-4000-8000-000000000000").status_code == 404
    outsider = login_member(other.tenant_id)
    assert page_of(outsider, issued.key.api_key_id).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(used_key):
    _, issued, _ = used_key
    response = page_of(Client(), issued.key.api_key_id)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_htmx_request_gets_the_content_only(staff_client, used_key):
    _, issued, _ = used_key
    response = staff_client.get(
        f"/usage/keys/{issued.key.api_key_id}/", headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and 'id="key-requests"' in html


def test_a_key_that_was_never_used_says_so(staff_client, make_tenant):
    tenant, _ = make_tenant()
    unused = second_key(tenant, name="<b>unused</b>")
    html = page_of(staff_client, unused.key.api_key_id).content.decode()
    assert "No requests recorded yet" in html
    assert "&lt;b&gt;unused&lt;/b&gt;" in html and "<b>unused</b>" not in html


def test_the_key_page_reads_the_key_then_one_batch_whatever_its_use(staff_client, used_key):
    _, issued, _ = used_key
    create(issued.raw)  # the first one finished: a slot is free again
    for _ in range(3):
        create(issued.raw, expect=429)
    authentication.usage.flush_all()
    with counting_calls() as log:
        assert page_of(staff_client, issued.key.api_key_id).status_code == 200
    assert log.by_operation() == Counter({"GetItem": 1, "BatchGetItem": 1})


def test_an_api_request_gains_no_call_and_is_recorded_by_the_flush(make_tenant):
    _, issued = make_tenant()
    dispatch_id = create(issued.raw)["dispatchId"]  # warms the key cache, first use flushed
    with counting_calls() as log:
        get_dispatch(issued.raw, dispatch_id)
    assert log.by_operation() == Counter({"GetItem": 1})  # the dispatch, as before
    authentication.usage.flush_all()
    recorded = key_requests.requests_get(issued.key.tenant_id, issued.key.api_key_id)
    assert [(r.method, r.status, r.dispatch_id) for r in recorded] == [
        ("GET", 200, dispatch_id),
        ("POST", 201, dispatch_id),
    ]


def test_requests_wait_for_the_flush_interval(make_tenant, settings):
    """Within a key's interval its requests stay in memory; the interval's timer writes them."""
    settings.API_KEY_USAGE_FLUSH_SECONDS = 1
    _, issued = make_tenant()
    dispatch_id = create(issued.raw)["dispatchId"]
    authentication.usage.wait()
    assert key_requests.requests_get(issued.key.tenant_id, issued.key.api_key_id) == []
    deadline = utcnow() + timedelta(seconds=10)
    while utcnow() < deadline:
        found = key_requests.requests_get(issued.key.tenant_id, issued.key.api_key_id)
        if found:
            break
        time.sleep(0.1)
    assert [r.dispatch_id for r in found] == [dispatch_id]


def test_the_recent_requests_item_keeps_the_last_50_and_stays_small(make_tenant):
    tenant, issued = make_tenant()
    start = utcnow()
    long_path = "/api/v1/dispatches/" + "x" * 500
    batches = [
        [
            KeyRequest(start + timedelta(seconds=b * 40 + n), "DELETE", long_path, 503, "D" * 60)
            for n in range(40)
        ]
        for b in range(3)
    ]
    for batch in batches:
        key_requests.requests_add(tenant.tenant_id, issued.key.api_key_id, batch)
    kept = key_requests.requests_get(tenant.tenant_id, issued.key.api_key_id)
    assert len(kept) == key_requests.RECENT_REQUESTS
    assert kept[0].at == batches[-1][-1].at  # the newest
    assert kept[-1].at == start + timedelta(seconds=70)  # 120 made, the last 50 kept
    assert len(kept[0].path) == key_requests.PATH_MAX and len(kept[0].dispatch_id) == 40
    raw = call(
        "get_item",
        TableName=TENANTS.name,
        Key=key_requests.recent_key(tenant.tenant_id, issued.key.api_key_id),
    )["Item"]
    assert item_size(raw) <= 10_240  # 10 KB at the largest fields, whatever the traffic


def item_size(item):
    """An item's size as DynamoDB counts it: names and values in bytes, numbers at most 21,
    3 bytes for a map or list plus 1 per element (developer guide, "Item sizes")."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def value_size(value):
    if "S" in value:
        return len(value["S"].encode())
    if "N" in value:
        return min(21, len(value["N"]) // 2 + 2)
    if "L" in value:
        return 3 + sum(1 + value_size(v) for v in value["L"])
    return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in value["M"].items())


def test_two_processes_flushing_one_key_at_once_both_keep_their_requests(make_tenant):
    """Another process's flush lands between our read and our put: ours is refused by the
    version condition, read again and merged, so neither loses its requests."""
    from outpost_admin.dynamo import client

    tenant, issued = make_tenant()
    key_id = issued.key.api_key_id
    now = utcnow()
    theirs = KeyRequest(now, "GET", "/api/v1/dispatches", 200)
    ours = KeyRequest(now + timedelta(seconds=1), "POST", "/api/v1/dispatches", 201)
    fired: list[bool] = []

    def the_other_process_first(**_):
        if not fired:
            fired.append(True)
            key_requests.requests_add(tenant.tenant_id, key_id, [theirs])

    client().meta.events.register("before-call.dynamodb.PutItem", the_other_process_first)
    try:
        key_requests.requests_add(tenant.tenant_id, key_id, [ours])
    finally:
        client().meta.events.unregister("before-call.dynamodb.PutItem", the_other_process_first)
    assert fired
    kept = key_requests.requests_get(tenant.tenant_id, key_id)
    assert [(r.method, r.status) for r in kept] == [("POST", 201), ("GET", 200)]


def test_the_buffer_of_a_key_is_bounded_between_flushes(make_tenant):
    tenant, issued = make_tenant()
    principal = authentication.authenticate(issued.raw)  # first use: flushed at once
    authentication.usage.wait()
    for n in range(200):
        authentication.usage.record_request(
            principal, KeyRequest(utcnow(), "GET", f"/api/v1/dispatches?n={n}", 200)
        )
    assert len(authentication.usage._requests[issued.key.api_key_id]) == 50  # in memory
    authentication.usage.flush_all()
    kept = key_requests.requests_get(tenant.tenant_id, issued.key.api_key_id)
    assert len(kept) == 50 and kept[0].path.endswith("n=199") and kept[-1].path.endswith("n=150")
