"""A local worker's slots in the pool table: registered, taken, released, kept alive, retired."""

from dataclasses import replace
from datetime import datetime, timedelta

from django.conf import settings

from outpost_admin.dynamo import utcnow

from . import storage
from .domain import ANY_AGENT, Slot, SlotStatus, local_task_arn


def slot_ttl(now: datetime) -> int:
    """Epoch seconds a few minutes ahead: a dead worker's slots expire on their own."""
    ahead = max(300, 10 * settings.OUTPOST_WORKER_HEARTBEAT_SECONDS)
    return int((now + timedelta(seconds=ahead)).timestamp())


def slots_register(*, worker_id: str, count: int) -> list[Slot]:
    now = utcnow()
    slots = [
        Slot(
            agent_type=ANY_AGENT,
            task_arn=local_task_arn(worker_id, number),
            status=SlotStatus.IDLE,
            worker_id=worker_id,
            created_at=now,
            last_used_at=now,
            heartbeat=now,
            ttl=slot_ttl(now),
        )
        for number in range(count)
    ]
    for slot in slots:
        storage.slot_save(slot)
    return slots


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
    storage.slot_save(changed)
    return changed


def slot_take(slot: Slot, *, dispatch_id: str) -> Slot:
    return _save(slot, status=SlotStatus.IN_USE, dispatch_id=dispatch_id)


def slot_release(slot: Slot, *, retiring: bool = False) -> Slot:
    """Back to idle, or to terminating when the worker is shutting down."""
    status = SlotStatus.TERMINATING if retiring else SlotStatus.IDLE
    return _save(slot, status=status, dispatch_id="")


def slot_heartbeat(slot: Slot) -> Slot:
    """Refresh heartbeat and ttl; an item that expired meanwhile is written again whole."""
    now = utcnow()
    fresh = replace(slot, heartbeat=now, ttl=slot_ttl(now))
    if not storage.slot_heartbeat(slot, now=now, ttl=fresh.ttl):
        storage.slot_save(fresh)
    return fresh


def slot_retire(slot: Slot) -> None:
    storage.slot_delete(slot)


def slots_retire_worker(*, worker_id: str) -> int:
    """Remove every slot a gone worker left behind; returns how many there were."""
    slots = storage.slots_for_worker(worker_id)
    for slot in slots:
        storage.slot_delete(slot)
    return len(slots)
