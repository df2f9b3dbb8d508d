"""Filters on the history apply across pages (issue 14, bug 4): a filtered page reads on until
it is full, within a bound of reads it states; never a Scan."""

import re
import uuid
from datetime import timedelta

import pytest

from dispatches import history_index
from dispatches.views import FILTER_READ_SIZE, FILTER_READS, PAGE_SIZE
from outpost_admin.dynamo import counting_calls, iso, to_item, utcnow
from outpost_admin.dynamo.paging import put_all
from outpost_admin.dynamo.tables import DISPATCHES

from .conftest import row_ids

pytestmark = pytest.mark.django_db


def seed(tenant_id: str, agents: list[str], repo: str = "") -> list[str]:
    """Finished dispatches of the tenant, oldest first, one second apart, ending a minute ago."""
    start = utcnow() - timedelta(minutes=1, seconds=len(agents))
    ids = [f"F{uuid.uuid4().hex.upper()}" for _ in agents]
    items = [
        to_item(
            {
                "dispatch_id": dispatch_id,
                "user_id": tenant_id,
                "agent": agent,
                "model_id": "m",
                "task": "Seeded for the filter tests",
                "status": "COMPLETED",
                "started_at": iso(start + timedelta(seconds=n)),
                "started_day": iso(start + timedelta(seconds=n))[:10],
                **({"repo": repo} if repo else {}),
            }
        )
        for n, (dispatch_id, agent) in enumerate(zip(ids, agents, strict=True))
    ]
    put_all(DISPATCHES.name, items)
    return ids


def test_a_filtered_page_fills_with_matches_older_than_a_page_of_others(member):
    tenant, client = member
    grok = seed(tenant.tenant_id, ["grok"] * 6 + ["claude"] * (2 * FILTER_READ_SIZE))
    with counting_calls() as calls:
        html = client.get("/dispatches/?agent=grok").content.decode()
    assert row_ids(html) == grok[:6][::-1]  # all six, newest first
    assert "No dispatches match" not in html and 'id="load-more"' not in html
    # 200 others and the six: never a Scan.
    assert calls.operations == ["Query"] * 3
    assert f"searches up to {FILTER_READS * FILTER_READ_SIZE} dispatches" in html


def test_a_filtered_page_stops_at_its_read_bound_and_says_what_it_searched(member):
    tenant, client = member
    bound = FILTER_READS * FILTER_READ_SIZE
    grok = seed(tenant.tenant_id, ["grok"] * (PAGE_SIZE + 2) + ["claude"] * bound)[: PAGE_SIZE + 2]
    with counting_calls() as calls:
        html = client.get("/dispatches/?agent=grok").content.decode()
    assert calls.operations == ["Query"] * FILTER_READS  # the bound, on the page
    assert row_ids(html) == []
    assert f"No dispatches match among the up to {bound} dispatches searched" in html
    link = re.search(r'<a href="([^"]+)" hx-get=', html)
    assert link is not None  # Load more: search on
    more = link.group(1).replace("&amp;", "&")
    with counting_calls() as calls:
        page = client.get(f"/dispatches/{more}", HTTP_HX_REQUEST="true").content.decode()
    assert row_ids(page) == grok[2:][::-1]  # a full page of matches, then Load more
    assert len(calls.operations) <= FILTER_READS
    assert 'id="load-more"' in page


def test_an_unfiltered_page_is_still_one_query(member):
    tenant, client = member
    seed(tenant.tenant_id, ["claude"] * (PAGE_SIZE + 1))
    with counting_calls() as calls:
        html = client.get("/dispatches/").content.decode()
    assert calls.operations == ["Query"] and len(row_ids(html)) == PAGE_SIZE
    assert 'id="search-bound"' not in html


def test_a_repo_filter_fills_its_page_across_reads_too(member):
    tenant, client = member
    widgets = seed(tenant.tenant_id, ["claude"] * 3, repo="acme/widgets")
    seed(tenant.tenant_id, ["claude"] * 150, repo="acme/other")  # newer, in the way
    with counting_calls() as calls:
        html = client.get("/dispatches/?repo=acme/widgets").content.decode()
    assert row_ids(html) == widgets[::-1]
    assert calls.operations == ["Query"] * 2  # 100 others, then the rest with the three


def test_every_tenants_filtered_history_stays_within_its_stated_bound(staff_client, member):
    tenant, _ = member
    seed(tenant.tenant_id, ["claude"] * 5)
    with counting_calls() as calls:
        html = staff_client.get("/dispatches/?repo=nobody/nothing").content.decode()
    shards = len(history_index.shards())
    assert 0 < calls.operations.count("Query") <= FILTER_READS * shards
    assert "Scan" not in calls.operations
    assert f"in each of {shards} shards" in html and f"in at most {FILTER_READS} reads" in html
