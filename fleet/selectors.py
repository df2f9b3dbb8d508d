"""Reads of the worker pool: the fleet board (/fleet/ and /health/fleet), whether a worker is
alive, the dead workers' dispatches."""

from datetime import datetime, timedelta

from django.conf import settings

from billing import selectors as billing_selectors
from dispatches import selectors as dispatch_selectors
from dispatches.agents import is_available
from dispatches.domain import Dispatch, DispatchStatus
from outpost_admin.agents import AGENTS
from outpost_admin.dynamo import leases
from usage import rollups
from usage import storage as usage_storage

from . import board, storage
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
    buckets (one more), the stream shards' leases with their lag (one Query, one page) and,
    while billing is on, the meter's status item (one GetItem). None of it grows with the number of dispatches or the age of the oldest waiting one."""
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
        meter=billing_selectors.meter_status(),
    )


def agent_unavailable_reason(agent: str) -> str:
    if is_available(agent):
        return ""
    if settings.OUTPOST_EXECUTOR == "ecs":
        return "No task definition is configured for it."
    return "No command is configured for it (OUTPOST_AGENT_COMMANDS)."


def dead_workers_dispatches(*, now: datetime) -> list[Dispatch]:
    """The RUNNING dispatches, with an ECS task, of our workers that have no live slot (the
    rule of `worker_is_alive`), oldest first. It starts from the pool (a Query per agent type)
    and reads only the dispatches a dead worker's items name (its slots and the ECS tasks it
    followed carry their dispatch id), one BatchGetItem per 100: what it reads grows with the
    dead workers, not with the live ones or their dispatches. The pool Query is not a
    consistent read: callers confirm a worker is dead (`worker_is_alive`) before acting."""
    items = [i for i in _pool_items() if not i.is_control_plane and i.worker_id]
    live = {i.worker_id for i in items if i.is_slot and i.is_live(now=now, dead_after=dead_after())}
    named = {i.dispatch_id: i.worker_id for i in items if i.worker_id not in live and i.dispatch_id}
    found = dispatch_selectors.dispatch_get_many(sorted(named)) if named else {}
    orphans = [
        d
        for d in found.values()
        if d.status == DispatchStatus.RUNNING and d.task_arn and d.worker_id == named[d.dispatch_id]
    ]
    return sorted(orphans, key=lambda d: d.started_at)
