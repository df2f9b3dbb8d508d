"""Staff's history across tenants reads a write-sharded index: one Query per shard, merged
newest first, with a cursor that loses nothing and shows nothing twice."""

import random
import uuid
from datetime import timedelta

import pytest

from dispatches import history_index, storage
from outpost_admin.dynamo import BadCursor, call, counting_calls, iso, to_item, utcnow


def _put(repo: str, at, agent: str) -> str:
    dispatch_id = f"HS{uuid.uuid4().hex[:20].upper()}"
    item = {
        "dispatch_id": dispatch_id,
        "user_id": "history-shards",
        "agent": agent,
        "model_id": "m",
        "task": "do it",
        "status": "COMPLETED",
        "started_at": iso(at),
        "started_day": iso(at)[:10],
        "ended_at": iso(at),
        "repo": repo,
        "version": 3,
        "origin": "control-plane",
        "expires_at": int(utcnow().timestamp()) + 3600,
        **history_index.listed(dispatch_id, "do it"),
    }
    call("put_item", TableName=storage.DISPATCHES.name, Item=to_item(item))
    return dispatch_id


@pytest.fixture
def spread():
    """40 dispatches of one repo over the last hour (a few at the same millisecond), every
    shard holding some, half of them by another agent."""
    repo = f"acme/shards{uuid.uuid4().hex[:6]}"
    now = utcnow()
    times = [now - timedelta(seconds=random.randrange(3600)) for _ in range(36)]
    times += [times[0]] * 4  # ties across shards
    made = {_put(repo, at, "claude" if n % 2 else "codex"): at for n, at in enumerate(times)}
    return repo, now, made


def _all_pages(**filters):
    shown, cursor, pages = [], None, 0
    while True:
        page = storage.dispatch_list_between(cursor=cursor, **filters)
        shown += page.items
        pages += 1
        if not page.cursor:
            return shown, pages
        cursor = page.cursor


def test_pages_across_shards_show_each_dispatch_once_newest_first(spread):
    repo, now, made = spread
    since = now - timedelta(hours=2)
    shown, pages = _all_pages(since=since, until=now, repo=repo, limit=7)
    ids = [d.dispatch_id for d in shown]
    assert sorted(ids) == sorted(made)  # every one, once
    times = [d.started_at for d in shown]
    assert times == sorted(times, reverse=True)
    assert pages >= len(made) // 7


def test_a_filter_that_drops_most_reads_keeps_order_and_completeness(spread):
    repo, now, made = spread
    claude = set(list(made)[1::2])
    shown, _ = _all_pages(
        since=now - timedelta(hours=2), until=now, repo=repo, agent="claude", limit=3
    )
    assert {d.agent for d in shown} == {"claude"}
    assert len(shown) == len({d.dispatch_id for d in shown}) == 20
    assert {d.dispatch_id for d in shown} <= claude
    times = [d.started_at for d in shown]
    assert times == sorted(times, reverse=True)


def test_a_page_is_one_query_per_shard(spread):
    repo, now, _ = spread
    with counting_calls() as calls:
        storage.dispatch_list_between(since=now - timedelta(hours=2), until=now, repo=repo)
    assert calls.operations == ["Query"] * history_index.SHARDS


def test_a_tampered_or_foreign_cursor_is_refused(spread):
    repo, now, _ = spread
    filters = {"since": now - timedelta(hours=2), "until": now, "repo": repo, "limit": 5}
    cursor = storage.dispatch_list_between(**filters).cursor
    assert cursor
    with pytest.raises(BadCursor):
        storage.dispatch_list_between(**{**filters, "cursor": cursor[:-2] + "xx"})
    with pytest.raises(BadCursor):
        storage.dispatch_list_between(**{**filters, "agent": "claude", "cursor": cursor})
