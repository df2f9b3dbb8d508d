"""The worker pool: slots our workers own, the pool table's items, the pool as a whole. No I/O.

A local worker's slot can run any agent the worker has a command for, and the control plane
counts the pool per agent type (one Query per type). So a slot is stored as one item per
agent type it serves, all with the same task_arn (`local:<worker id>:<n>`) and status: the
control plane's /health/fleet then counts our slots as its own idle/in_use tasks, per agent.
Its own items (ECS tasks) carry no heartbeat: they are shown as control-plane tasks.
The ECS executor's tasks are ours (they heart-beat while a worker follows them) but not
slots: the worker's slots bound how many it runs, its task items say which ECS task runs each.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

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
    """One slot of one of our workers (stored as an item per agent type it serves)."""

    agent_types: tuple[str, ...]
    task_arn: str
    status: SlotStatus
    worker_id: str
    created_at: datetime
    last_used_at: datetime
    heartbeat: datetime
    ttl: int
    dispatch_id: str = ""
    # Who owns the slot, for the fleet page (absent on the control plane's ECS items).
    host: str = ""
    pid: int = 0
    executor: str = ""
    worker_started_at: datetime | None = None

    def is_alive(self, *, now: datetime, dead_after: timedelta) -> bool:
        return now - self.heartbeat <= dead_after


@dataclass(frozen=True)
class PoolItem:
    """One item of the pool table, whoever wrote it."""

    agent_type: str
    task_arn: str
    status: str
    worker_id: str = ""
    heartbeat: datetime | None = None  # ours only; the control plane's tasks have none
    dispatch_id: str = ""
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    # Who owns it, for the fleet page (ours only).
    host: str = ""
    pid: int = 0
    executor: str = ""
    worker_started_at: datetime | None = None

    @property
    def is_control_plane(self) -> bool:
        return self.heartbeat is None

    @property
    def is_slot(self) -> bool:
        """One of our workers' slots (not an ECS task one of them follows)."""
        return self.task_arn.startswith(f"{LOCAL_PREFIX}:")

    def is_live(self, *, now: datetime, dead_after: timedelta) -> bool:
        """Ours while it heart-beats; the control plane's while it exists (TTL removes it)."""
        return self.heartbeat is None or now - self.heartbeat <= dead_after


@dataclass(frozen=True)
class AgentPool:
    """One agent type's live tasks, counted as the control plane counts them."""

    agent: str
    total: int = 0
    idle: int = 0
    in_use: int = 0
    terminating: int = 0


@dataclass(frozen=True)
class PoolSummary:
    by_agent: dict[str, AgentPool] = field(default_factory=dict)
    workers: frozenset[str] = frozenset()  # our workers with a live slot
    slots: dict[str, int] = field(default_factory=dict)  # our live slots by status
    control_plane_tasks: int = 0  # distinct ECS tasks of the control plane
    stale: int = 0  # our slots whose worker stopped heart-beating

    def total(self, status: str | None = None) -> int:
        pools = self.by_agent.values()
        if status is None:
            return sum(p.total for p in pools)
        return sum(getattr(p, status) for p in pools)

    @property
    def live_slots(self) -> int:
        return sum(self.slots.values())


def summarize(items: list[PoolItem], *, now: datetime, dead_after: timedelta) -> PoolSummary:
    live = [i for i in items if i.is_live(now=now, dead_after=dead_after)]
    counts: dict[str, dict[str, int]] = {}
    for item in live:
        agent = counts.setdefault(item.agent_type, {})
        agent[item.status] = agent.get(item.status, 0) + 1
    ours = {i.task_arn: i for i in live if i.is_slot}
    slots: dict[str, int] = {}
    for item in ours.values():
        slots[item.status] = slots.get(item.status, 0) + 1
    stale = {i.task_arn for i in items if i.is_slot} - set(ours)
    return PoolSummary(
        by_agent={
            agent: AgentPool(
                agent,
                total=sum(c.values()),
                idle=c.get(SlotStatus.IDLE, 0),
                in_use=c.get(SlotStatus.IN_USE, 0),
                terminating=c.get(SlotStatus.TERMINATING, 0),
            )
            for agent, c in counts.items()
        },
        workers=frozenset(i.worker_id for i in ours.values()),
        slots=slots,
        control_plane_tasks=len({i.task_arn for i in live if i.is_control_plane}),
        stale=len(stale),
    )
