"""Reads of the worker pool: its summary for /health/fleet, and whether a worker is alive."""

from datetime import datetime, timedelta

from django.conf import settings

from outpost_admin.agents import AGENTS

from . import storage
from .domain import PoolSummary, summarize


def dead_after() -> timedelta:
    return timedelta(seconds=settings.OUTPOST_WORKER_DEAD_AFTER_SECONDS)


def pool_summary(*, now: datetime) -> PoolSummary:
    """One Query per agent type, as the control plane reads the pool; never a Scan."""
    items = [item for agent in AGENTS for item in storage.items_for_agent(agent)]
    return summarize(items, now=now, dead_after=dead_after())


def worker_is_alive(*, worker_id: str, now: datetime) -> bool:
    """A worker is alive while any of its slots has heart-beaten recently."""
    if not worker_id:
        return False
    slots = storage.slots_for_worker(worker_id)
    return any(s.is_alive(now=now, dead_after=dead_after()) for s in slots)
