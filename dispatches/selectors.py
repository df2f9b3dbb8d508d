"""Reads for dispatches and their logs: every read outside lifecycle.py goes through here.

The list reads are storage's own functions (one Query a page, nothing to add), named here
so views, APIs and the other apps keep to the one path: caller -> selector -> storage.
"""

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from outpost_admin.dynamo import BadCursor, IndexMissing, Page, decode_cursor, encode_cursor

from . import storage
from .domain import REFUSED, Dispatch, DispatchStatus, LogChunk
from .storage import (
    NotFound,
    dispatch_from_item,
    dispatch_get_many,
    dispatch_iter_ours,
    dispatch_list,
    dispatch_list_day,
    meter_due,
    meter_due_count,
)

__all__ = [
    "REFUSED",
    "dispatch_from_item",
    "dispatch_get",
    "dispatch_get_many",
    "dispatch_iter_ours",
    "dispatch_list",
    "dispatch_list_day",
    "dispatch_list_range",
    "dispatch_refresh",
    "log_after",
    "log_all",
    "log_all_text",
    "log_tail",
    "log_tail_text",
    "meter_due",
    "meter_due_count",
]

MAX_RANGE_DAYS = 31


def dispatch_get(*, tenant_id: str | None, dispatch_id: str) -> Dispatch:
    """A dispatch of this tenant (any tenant when None: staff, the runner); otherwise
    NotFound, as for a missing one. A consistent read: a worker polls it while it runs."""
    dispatch = storage.dispatch_get(dispatch_id)
    if tenant_id is not None and dispatch.tenant_id != tenant_id:
        raise NotFound(f"dispatch {dispatch_id}")
    return dispatch


def dispatch_list_range(
    *,
    since: datetime,
    until: datetime,
    status: DispatchStatus | None = None,
    agent: str = "",
    repo: str = "",
    cursor: str | None = None,
    limit: int = 50,
    max_reads: int = 1,
    read_size: int = 0,
) -> Page[Dispatch]:
    """Every tenant's dispatches between two times, newest first: one Query per shard of the
    history index per read (up to `max_reads` reads of `read_size` items per shard, for
    filters); before `upgrade_layout` added it, the day partitions of the range one after
    another, one Query per day partition as the page needs (examining up to `read_size`
    items each)."""
    filters: dict[str, Any] = {
        "status": status,
        "agent": agent,
        "repo": repo,
        "cursor": cursor,
        "limit": limit,
    }
    try:
        return storage.dispatch_list_between(
            since=since, until=until, max_reads=max_reads, read_size=read_size, **filters
        )
    except (IndexMissing, BadCursor):  # before upgrade_layout, or a cursor made then
        pass
    scope = f"range:{since.isoformat()}:{until.isoformat()}:{status}:{agent}:{repo}"
    state = decode_cursor(cursor, scope=scope) or {"day": until.date().isoformat()}
    try:
        day, inner = date.fromisoformat(state["day"]), state.get("inner")
    except (KeyError, TypeError, ValueError) as exc:
        raise BadCursor("invalid cursor") from exc
    items: list[Dispatch] = []
    while day >= since.date() and len(items) < limit:
        page = storage.dispatch_list_day_partition(
            day=day,
            status=status,
            agent=agent,
            repo=repo,
            since=since,
            until=until,
            cursor=inner,
            limit=limit - len(items),
            read_size=read_size,
        )
        items += page.items
        if page.cursor:
            return Page(
                items, encode_cursor({"day": day.isoformat(), "inner": page.cursor}, scope=scope)
            )
        day, inner = day - timedelta(days=1), None
    more = day >= since.date()
    return Page(items, encode_cursor({"day": day.isoformat()}, scope=scope) if more else None)


def dispatch_refresh(*, tenant_id: str | None, dispatch_ids: list[str]) -> list[Dispatch]:
    """The current state of dispatches a page shows: one BatchGetItem for up to 100.
    A tenant user gets only their own tenant's (others are left out, as if missing)."""
    found = list(storage.dispatch_get_many(dispatch_ids[:100]).values()) if dispatch_ids else []
    return [d for d in found if tenant_id is None or d.tenant_id == tenant_id]


def log_tail_text(*, dispatch: Dispatch, chunks: int = 20) -> str:
    """The end of the output. Only a worker holding the claim writes output, and claiming
    raises the version, so a dispatch still at version 1 has none: no Query for it."""
    if dispatch.version == 1:
        return ""
    return "".join(c.text for c in storage.log_tail(dispatch.dispatch_id, chunks=chunks))


def log_tail(*, dispatch_id: str, chunks: int = 20) -> list[LogChunk]:
    return storage.log_tail(dispatch_id, chunks=chunks)


def log_after(*, dispatch_id: str, after: int) -> list[LogChunk]:
    return storage.log_after(dispatch_id, after=after)


def log_all(*, dispatch_id: str) -> Iterator[LogChunk]:
    return storage.log_all(dispatch_id)


def log_all_text(*, dispatch_id: str) -> Iterator[str]:
    return (chunk.text for chunk in storage.log_all(dispatch_id))
