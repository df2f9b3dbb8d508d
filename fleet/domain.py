"""The worker pool: slots a worker owns, and what the pool looks like as a whole. No I/O."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

ANY_AGENT = "*"  # the agent_type of a slot that serves every agent (local workers)
LOCAL_PREFIX = "local"


class SlotStatus(StrEnum):
    IDLE = "idle"
    IN_USE = "in_use"
    TERMINATING = "terminating"


def local_task_arn(worker_id: str, slot: int) -> str:
    return f"{LOCAL_PREFIX}:{worker_id}:{slot}"


def local_worker_prefix(worker_id: str) -> str:
    """What every task_arn of this worker starts with; the trailing colon keeps w1 apart from w10."""
    return f"{LOCAL_PREFIX}:{worker_id}:"


@dataclass(frozen=True)
class Slot:
    agent_type: str
    task_arn: str
    status: SlotStatus
    worker_id: str
    created_at: datetime
    last_used_at: datetime
    heartbeat: datetime
    ttl: int
    dispatch_id: str = ""

    def is_alive(self, *, now: datetime, dead_after: timedelta) -> bool:
        return now - self.heartbeat <= dead_after


@dataclass(frozen=True)
class PoolSummary:
    """Live slots by status and the workers they belong to; stale slots counted apart."""

    workers: frozenset[str] = frozenset()
    by_status: dict[str, int] = field(default_factory=dict)
    by_agent: dict[str, int] = field(default_factory=dict)
    stale: int = 0

    @property
    def live_slots(self) -> int:
        return sum(self.by_status.values())

    @property
    def idle(self) -> int:
        return self.by_status.get(SlotStatus.IDLE, 0)

    @property
    def in_use(self) -> int:
        return self.by_status.get(SlotStatus.IN_USE, 0)


def summarize(slots: list[Slot], *, now: datetime, dead_after: timedelta) -> PoolSummary:
    live = [s for s in slots if s.is_alive(now=now, dead_after=dead_after)]
    by_status: dict[str, int] = {}
    by_agent: dict[str, int] = {}
    for slot in live:
        by_status[slot.status] = by_status.get(slot.status, 0) + 1
        by_agent[slot.agent_type] = by_agent.get(slot.agent_type, 0) + 1
    return PoolSummary(
        workers=frozenset(s.worker_id for s in live),
        by_status=by_status,
        by_agent=by_agent,
        stale=len(slots) - len(live),
    )
