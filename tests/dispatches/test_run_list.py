"""Issue 14, "Make the common work fast", point 2: the dense run list. Tag, key and status
filters apply on the server across pages, within a bound of reads the page states; sort by
created (newest or oldest first) or by duration (within the page read)."""

import re
import uuid
from datetime import timedelta

import pytest

from dispatches import history_index
from dispatches.views import FILTER_READ_SIZE, FILTER_READS
from outpost_admin.dynamo import counting_calls, iso, to_item, utcnow
from outpost_admin.dynamo.paging import put_all
from outpost_admin.dynamo.tables import DISPATCHES

from .conftest import row_ids

pytestmark = pytest.mark.django_db

KEY_ID = "5f0c8a52-8d0e-4c1b-9a53-3f9e6c1d2b7a"


def seed(tenant_id: str, rows: list[dict]) -> list[str]:
    """Finished dispatches of the tenant, oldest first, a second apart; each row's fields
    (tags, api_key_id, api_key_name, status, ran: seconds) over a plain one."""
    start = utcnow() - timedelta(hours=1, seconds=len(rows))
    ids = [f"R{uuid.uuid4().hex.upper()}" for _ in rows]
    items = []
    for n, (dispatch_id, row) in enumerate(zip(ids, rows, strict=True)):
        created = start + timedelta(seconds=n)
        ran = row.pop("ran", 5)
        items.append(
            to_item(
                {
                    "dispatch_id": dispatch_id,
                    "user_id": tenant_id,
                    "agent": "claude",
                    "model_id": "m",
                    "task": "Seeded for the run list tests",
                    "status": "COMPLETED",
                    "started_at": iso(created),
                    "started_day": iso(created)[:10],
                    "claimed_at": iso(created),
                    "ended_at": iso(created + timedelta(seconds=ran)),
                    **history_index.listed(dispatch_id, "Seeded for the run list tests"),
                    **row,
                }
            )
        )
    put_all(DISPATCHES.name, items)
    return ids


def test_a_tag_filter_reads_on_across_pages_within_its_stated_bound(member):
    tenant, client = member
    core = [{"tags": {"team": "core", "ticket": f"OPS-{n}"}} for n in range(3)]
    ids = seed(tenant.tenant_id, core + [{"tags": {"team": "web"}}] + [{}] * FILTER_READ_SIZE)
    with counting_calls() as calls:
        html = client.get("/dispatches/", {"tag": "team=core"}).content.decode()
    assert row_ids(html) == ids[:3][::-1]  # older than a read of others: found all the same
    assert calls.operations == ["Query", "Query"]  # never a Scan, within the bound
    bound = f"searches up to {FILTER_READS * FILTER_READ_SIZE} dispatches"
    assert bound in html and f"in at most {FILTER_READS} reads" in html
    any_team = client.get("/dispatches/", {"tag": "team"}).content.decode()  # a name alone
    assert set(row_ids(any_team)) == set(ids[:4])


def test_a_tag_filter_stops_at_the_bound_and_says_so(member):
    tenant, client = member
    seed(tenant.tenant_id, [{"tags": {"team": "core"}}] + [{}] * (FILTER_READS * FILTER_READ_SIZE))
    with counting_calls() as calls:
        html = client.get("/dispatches/", {"tag": "team=core"}).content.decode()
    assert calls.operations == ["Query"] * FILTER_READS
    assert row_ids(html) == [] and "Load more searches on" in html


def test_a_key_filter_takes_the_keys_name_or_id_and_status_combines(member):
    tenant, client = member
    ids = seed(
        tenant.tenant_id,
        [
            {"api_key_id": KEY_ID, "api_key_name": "ci-bot"},
            {"api_key_id": KEY_ID, "api_key_name": "ci-bot", "status": "FAILED"},
            {"api_key_id": str(uuid.uuid4()), "api_key_name": "deploy"},
        ],
    )
    by_name = client.get("/dispatches/", {"key": "ci-bot"}).content.decode()
    assert row_ids(by_name) == [ids[1], ids[0]]
    assert re.search(
        rf'<tr id="dispatch-{ids[0]}".*?<td data-label="Key">ci-bot</td>', by_name, re.S
    )
    by_id = client.get("/dispatches/", {"key": KEY_ID.upper()}).content.decode()
    assert row_ids(by_id) == []  # an id is matched exactly as stored: lower case
    by_id = client.get("/dispatches/", {"key": KEY_ID}).content.decode()
    assert row_ids(by_id) == [ids[1], ids[0]]
    failed = client.get("/dispatches/", {"key": "ci-bot", "status": "failed"}).content.decode()
    assert row_ids(failed) == [ids[1]]


def test_sort_by_created_either_way_or_by_duration(member):
    tenant, client = member
    ids = seed(tenant.tenant_id, [{"ran": 30}, {"ran": 300}, {"ran": 3}])
    assert row_ids(client.get("/dispatches/").content.decode()) == ids[::-1]
    with counting_calls() as calls:
        oldest = client.get("/dispatches/", {"sort": "oldest"}).content.decode()
    assert row_ids(oldest) == ids and calls.operations == ["Query"]
    longest = client.get("/dispatches/", {"sort": "duration"}).content.decode()
    assert row_ids(longest) == [ids[1], ids[0], ids[2]]
    assert 'id="sort-note"' in longest and "data-live=" not in longest


def test_rows_show_tags_and_key_and_open_the_run(member):
    tenant, client = member
    (dispatch_id,) = seed(tenant.tenant_id, [{"tags": {"team": "core"}, "api_key_name": "ci-bot"}])
    html = client.get("/dispatches/").content.decode()
    assert f'data-href="/dispatches/{dispatch_id}/"' in html
    assert '<td class="tags" data-label="Tags"><code>team=core</code></td>' in html
    assert '<td data-label="Key">ci-bot</td>' in html


def test_staff_need_a_tenant_to_filter_by_tag_or_key(staff_client, member):
    tenant, _ = member
    for query in ({"tag": "team"}, {"key": "ci-bot"}, {"sort": "oldest"}):
        html = staff_client.get("/dispatches/", query).content.decode()
        (field,) = query
        assert re.search(rf'<p class="error" id="id_{field}_error">Pick a tenant first', html)
    repo = f"acme/runlist{uuid.uuid4().hex[:8]}"  # so other tests' rows of today stay out
    (dispatch_id,) = seed(tenant.tenant_id, [{"tags": {"team": "core"}, "repo": repo}])
    html = staff_client.get(
        "/dispatches/", {"tenant": tenant.tenant_id, "tag": "team=core"}
    ).content.decode()
    assert row_ids(html) == [dispatch_id]
    every = staff_client.get("/dispatches/", {"repo": repo}).content.decode()  # every tenant's
    row = re.search(rf'<tr id="dispatch-{dispatch_id}".*?</tr>', every, re.S)
    assert row, "the every-tenant view lists it"
    assert 'data-label="Tags"><span class="muted" title="Not in the every-tenant' in row.group(0)


@pytest.mark.parametrize("tag", ["=core", "x" * 65 + "=core", "\u202e=x"])
def test_a_tag_filter_with_no_valid_name_is_a_field_error_not_a_read(member, tag):
    _, client = member
    with counting_calls() as calls:
        html = client.get("/dispatches/", {"tag": tag}).content.decode()
    assert calls.operations == []
    assert re.search(
        r'<p class="error" id="id_tag_error">Tag names|<p class="error" id="id_tag_error">A tag name',
        html,
    )
