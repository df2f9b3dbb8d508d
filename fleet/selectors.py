"""Reads of the worker pool: the fleet board (/fleet/ and /health/fleet), whether a worker is alive."""

from datetime import datetime, timedelta

from django.conf import settings

from dispatches.agents import is_available
from outpost_admin.agents import AGENTS
from outpost_admin.dynamo import leases
from tenants import rollups

from . import board, storage, usage_storage
from .board import FleetBoard
from .domain import PoolItem


def dead_after() -> timedelta:
    return timedelta(seconds=settings.OUTPOST_WORKER_DEAD_AFTER_SECONDS)


def _pool_items() -> list[PoolItem]:
    """One Query per agent type, as the control plane reads the pool; never a Scan."""
    return [item for agent in AGENTS for item in storage.items_for_agent(agent)]


def worker_is_alive(*, worker_id: str, now: datetime) -> bool:
    """A worker is alive while any of its slots has heart-beaten recently."""
    if not worker_id:
        return False
    slots = storage.slots_for_worker(worker_id)
    return any(s.is_alive(now=now, dead_after=dead_after()) for s in slots)


def fleet_board(*, now: datetime) -> FleetBoard:
    """Everything /fleet/ and /health/fleet show: a Query per agent type on the pool, the
    queue items (one BatchGetItem, a fixed number of keys), the last hour's five-minute
    buckets (one more) and the stream shards' leases with their lag (one Query, one page).
    None of it grows with the number of dispatches or the age of the oldest waiting one."""
    items = _pool_items()
    tasks = [i for i in items if i.is_control_plane]
    workers = board.workers_of(items, now=now, dead_after=dead_after())
    queue_days = usage_storage.queue_cells()
    last = rollups.five_start(now)
    last_hour = usage_storage.five_minute_cells(last - n * rollups.FIVE_MINUTES for n in range(13))
    agents = board.agent_rows(
        workers,
        tasks,
        configured={a: agent_unavailable_reason(a) for a in AGENTS},
        queue_days=queue_days,
        last_hour=last_hour,
        now=now,
    )
    return FleetBoard(
        now=now,
        dead_after=dead_after(),
        workers=workers,
        tasks=tasks,
        agents=agents,
        items=items,
        streams=board.stream_rows(leases.shard_leases(), now),
    )


def agent_unavailable_reason(agent: str) -> str:
    if is_available(agent):
        return ""
    if settings.OUTPOST_EXECUTOR == "ecs":
        return "No task definition is configured for it."
    return "No command is configured for it (OUTPOST_AGENT_COMMANDS)."
