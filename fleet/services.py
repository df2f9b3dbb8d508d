"""A local worker's slots in the pool table: registered, taken, released, kept alive, retired."""

import os
import socket
from dataclasses import replace
from datetime import datetime, timedelta

from django.conf import settings

from outpost_admin.dynamo import utcnow

from . import storage
from .domain import Slot, SlotStatus, local_task_arn


def slot_ttl(now: datetime) -> int:
    """Epoch seconds a few minutes ahead: a dead worker's slots expire on their own."""
    ahead = max(300, 10 * settings.OUTPOST_WORKER_HEARTBEAT_SECONDS)
    return int((now + timedelta(seconds=ahead)).timestamp())


def slots_register(*, worker_id: str, count: int, agents: tuple[str, ...]) -> list[Slot]:
    """`count` idle slots, each stored under every agent type in `agents` (what it can run)."""
    now = utcnow()
    slots = [
        _new(
            task_arn=local_task_arn(worker_id, number),
            agents=agents,
            status=SlotStatus.IDLE,
            worker_id=worker_id,
            executor=settings.OUTPOST_EXECUTOR,
            now=now,
            worker_started_at=now,
        )
        for number in range(count)
    ]
    storage.slots_save(slots)
    return slots


def _new(
    *,
    task_arn: str,
    agents: tuple[str, ...],
    status: SlotStatus,
    worker_id: str,
    executor: str,
    now: datetime,
    dispatch_id: str = "",
    worker_started_at: datetime | None = None,
) -> Slot:
    """An item of this process's worker, naming its host and process for the fleet page."""
    return Slot(
        agent_types=agents,
        task_arn=task_arn,
        status=status,
        worker_id=worker_id,
        created_at=now,
        last_used_at=now,
        heartbeat=now,
        ttl=slot_ttl(now),
        dispatch_id=dispatch_id,
        host=socket.gethostname(),
        pid=os.getpid(),
        executor=executor,
        worker_started_at=worker_started_at,
    )


def _save(slot: Slot, *, status: SlotStatus, dispatch_id: str) -> Slot:
    now = utcnow()
    changed = replace(
        slot,
        status=status,
        dispatch_id=dispatch_id,
        last_used_at=now,
        heartbeat=now,
        ttl=slot_ttl(now),
    )
    storage.slots_save([changed])
    return changed


def slot_take(slot: Slot, *, dispatch_id: str) -> Slot:
    return _save(slot, status=SlotStatus.IN_USE, dispatch_id=dispatch_id)


def slot_release(slot: Slot, *, retiring: bool = False) -> Slot:
    """Back to idle, or to terminating when the worker is shutting down."""
    status = SlotStatus.TERMINATING if retiring else SlotStatus.IDLE
    return _save(slot, status=status, dispatch_id="")


def slots_heartbeat(slots: list[Slot]) -> list[Slot]:
    """Refresh heartbeat and ttl of all of a worker's slots (one call for up to 25 items)."""
    now = utcnow()
    fresh = [replace(s, heartbeat=now, ttl=slot_ttl(now)) for s in slots]
    storage.slots_save(fresh)
    return fresh


def task_follow(*, agent: str, task_arn: str, worker_id: str, dispatch_id: str) -> Slot:
    """The pool item of an ECS task a worker follows: keyed by its agent and the task's ARN,
    naming the worker's host and process (the fleet page shows it even after its slots went)."""
    task = _new(
        task_arn=task_arn,
        agents=(agent,),
        status=SlotStatus.IN_USE,
        worker_id=worker_id,
        executor="ecs",
        now=utcnow(),
        dispatch_id=dispatch_id,
    )
    storage.slots_save([task])
    return task


def slot_retire(slot: Slot) -> None:
    storage.slot_delete(slot)


def slots_retire_worker(*, worker_id: str) -> int:
    """Remove every slot a gone worker left behind; returns how many there were."""
    slots = storage.slots_for_worker(worker_id)
    for slot in slots:
        storage.slot_delete(slot)
    return len(slots)
