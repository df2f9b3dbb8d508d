"""Reads for dispatches and their logs. Every function is keyword-only."""

from datetime import date, datetime

from outpost_admin.dynamo import Page

from . import storage
from .domain import Dispatch, DispatchStatus, LogChunk


def dispatch_list(
    *,
    tenant_id: str,
    status: DispatchStatus | None = None,
    agent: str = "",
    repo: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 25,
) -> Page[Dispatch]:
    return storage.dispatch_list(
        tenant_id=tenant_id,
        status=status,
        agent=agent,
        repo=repo,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )


def dispatch_list_day(
    *,
    day: date,
    status: DispatchStatus | None = None,
    agent: str = "",
    repo: str = "",
    cursor: str | None = None,
    limit: int = 25,
) -> Page[Dispatch]:
    return storage.dispatch_list_day(
        day=day, status=status, agent=agent, repo=repo, cursor=cursor, limit=limit
    )


def log_tail(*, dispatch_id: str, chunks: int = 20) -> list[LogChunk]:
    return storage.log_tail(dispatch_id, chunks=chunks)


def log_tail_text(*, dispatch_id: str, chunks: int = 20) -> str:
    return "".join(chunk.text for chunk in log_tail(dispatch_id=dispatch_id, chunks=chunks))
