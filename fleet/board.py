"""The fleet as the /fleet/ page and /health/fleet show it: workers, the control plane's
tasks, and per agent its availability, live slots, queue and the last hour. No I/O here:
`fleet_board` is computed from the pool's items and roll-up cells that the caller read.
Our items (one per agent type a slot serves, with a heartbeat) are grouped by worker id;
the control plane's items (no heartbeat) are its tasks. The ECS tasks a worker follows are
items of its own, listed with it but not counted as slots."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from billing.domain import MeterStatus
from dispatches.domain import AGENTS
from outpost_admin.dynamo.leases import ShardLease
from usage.figures import Cells

from .domain import PoolItem, SlotStatus

LAST_HOUR_STATUSES = ("completed", "failed", "cancelled", "timeout")


def age_text(start: datetime | None, now: datetime) -> str:
    """How long ago, as a person reads it: 12 s, 4 min, 3 h 05 min, 2 d 04 h."""
    if start is None:
        return ""
    seconds = max(0, int((now - start).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 60:
        return f"{seconds} s"
    if minutes < 60:
        return f"{minutes} min"
    if hours < 24:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{days} d {hours % 24:02d} h"


@dataclass(frozen=True)
class WorkerRow:
    worker_id: str
    host: str
    pid: int
    executor: str
    started_at: datetime | None
    heartbeat: datetime
    alive: bool
    slots_total: int
    slots_in_use: int
    agents: tuple[str, ...]
    dispatch_ids: tuple[str, ...]
    tasks: tuple[str, ...] = ()  # the ARNs of the ECS tasks it follows
    recoverable: bool = True  # it has slots to recover (a worker gone with only ECS tasks
    # left has none: its tasks wait for another ECS worker to adopt them)

    heartbeat_age: str = ""


@dataclass(frozen=True)
class AgentRow:
    agent: str
    available: bool
    reason: str
    live_slots: int
    queue_depth: int
    oldest_pending: datetime | None  # the start of the five minutes it was created in
    oldest_age: str = ""
    last_hour: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamRow:
    """One shard of a followed stream: who reads it and how far behind it is."""

    table: str
    shard_id: str
    holder: str
    lag_seconds: int  # the age of the oldest record not handled yet (0: caught up)
    lag: str
    checked: str  # how long ago its follower last read it
    trims: int  # times its position was trimmed away (records lost)


def stream_rows(shard_leases: list[ShardLease], now: datetime) -> list[StreamRow]:
    """The shards with records still to come (open, or closed and not read to the end), the
    furthest behind first."""
    rows = [
        StreamRow(
            table=lease.table,
            shard_id=lease.shard_id,
            holder=lease.holder,
            lag_seconds=lease.lag_seconds(now),
            lag=age_text(lease.pending_since, now) if lease.pending_since else "caught up",
            checked=age_text(lease.checked_at, now) if lease.checked_at else "never",
            trims=lease.trims,
        )
        for lease in shard_leases
        if not lease.done
    ]
    return sorted(rows, key=lambda r: (-r.lag_seconds, r.table, r.shard_id))


@dataclass(frozen=True)
class FleetBoard:
    now: datetime
    dead_after: timedelta
    workers: list[WorkerRow]
    tasks: list[PoolItem]  # the control plane's own pool items (ECS tasks, no heartbeat)
    agents: list[AgentRow]
    items: list[PoolItem] = field(default_factory=list)  # every pool item read
    streams: list[StreamRow] = field(default_factory=list)  # the stream follower's shards
    meter: MeterStatus | None = None  # Stripe's meter as the last billing pass left it (None: off)

    @property
    def stream_lag_seconds(self) -> int:
        return max((row.lag_seconds for row in self.streams), default=0)

    @property
    def live_workers(self) -> list[WorkerRow]:
        return [w for w in self.workers if w.alive]

    @property
    def live_slots(self) -> int:
        return sum(w.slots_total for w in self.live_workers) + len(self.tasks)


def workers_of(items: list[PoolItem], *, now: datetime, dead_after: timedelta) -> list[WorkerRow]:
    """Our items (those with a heartbeat) grouped by worker id."""
    by_worker: dict[str, list[PoolItem]] = {}
    for item in items:
        if not item.is_control_plane:
            by_worker.setdefault(item.worker_id, []).append(item)
    rows = [_worker(wid, group, now, dead_after) for wid, group in by_worker.items()]
    return sorted(rows, key=lambda w: (not w.alive, w.worker_id))


def _worker(
    worker_id: str, items: list[PoolItem], now: datetime, dead_after: timedelta
) -> WorkerRow:
    slots = {i.task_arn: i for i in items if i.is_slot}  # one slot, an item per agent type
    tasks = {i.task_arn: i for i in items if not i.is_slot}
    first = min(list(slots.values()) or items, key=lambda i: i.created_at or now)
    heartbeat = max(i.heartbeat or now for i in items)
    running = [*slots.values(), *tasks.values()]
    return WorkerRow(
        worker_id=worker_id,
        host=first.host,
        pid=first.pid,
        executor=first.executor or "local",
        started_at=first.worker_started_at or first.created_at,
        heartbeat=heartbeat,
        alive=now - heartbeat <= dead_after,
        slots_total=sum(1 for s in slots.values() if s.status != SlotStatus.TERMINATING),
        slots_in_use=sum(1 for s in slots.values() if s.status == SlotStatus.IN_USE),
        agents=tuple(sorted({i.agent_type for i in items})),
        dispatch_ids=tuple(sorted({i.dispatch_id for i in running if i.dispatch_id})),
        tasks=tuple(sorted(tasks)),
        recoverable=bool(slots),
        heartbeat_age=age_text(heartbeat, now),
    )


def agent_rows(
    workers: list[WorkerRow],
    tasks: list[PoolItem],
    *,
    configured: dict[str, str],
    queue_days: dict[date, Cells],
    last_hour: Cells,
    now: datetime,
) -> list[AgentRow]:
    """`configured`: agent -> "" when this deployment can run it, else why not."""
    rows = []
    for agent in AGENTS:
        live = sum(w.slots_total for w in workers if w.alive and agent in w.agents)
        live += sum(
            1 for t in tasks if t.agent_type == agent and t.status != SlotStatus.TERMINATING
        )
        reason = configured.get(agent, "") or ("" if live else "No live slot can run it.")
        depth = sum(
            n for cells in queue_days.values() for (a, _), n in cells.queued.items() if a == agent
        )
        rows.append(
            AgentRow(
                agent=agent,
                available=not reason,
                reason=reason,
                live_slots=live,
                queue_depth=max(0, depth),
                oldest_pending=(oldest := _oldest(agent, queue_days)),
                oldest_age=age_text(oldest, now),
                last_hour={
                    s: sum(
                        n for (st, a, _), n in last_hour.finished.items() if st == s and a == agent
                    )
                    for s in LAST_HOUR_STATUSES
                },
            )
        )
    return rows


def _oldest(agent: str, queue_days: dict[date, Cells]) -> datetime | None:
    """The first five minutes (oldest day first) still holding a PENDING dispatch of the agent."""
    for day in sorted(queue_days):
        slots = Counter({hhmm: n for (a, hhmm), n in queue_days[day].queued.items() if a == agent})
        waiting = sorted(hhmm for hhmm, n in slots.items() if n > 0)
        if waiting:
            hhmm = waiting[0]
            return datetime(day.year, day.month, day.day, int(hhmm[:2]), int(hhmm[2:]), tzinfo=UTC)
    return None
