"""The control plane's dispatch figures of /health/fleet, from roll-ups we already read. No I/O.

The control plane Scans the dispatches started in the last hour and counts them by their
status now. We never Scan, so each figure comes from a roll-up, a fixed number of reads:
- finished (completed, failed, cancelled, timeout): the last hour's five-minute buckets,
  by when they finished (the fleet page's "last hour");
- pending: the queue depth now, whenever they were created;
- running: distinct dispatches the live pool's items are busy with now;
- `lastHourTotal`: the sum of those, the dispatches the last hour saw run or end.
"""

from typing import Any

from usage.figures import Cells
from usage.rollups import RUN_TIME_BOUNDS

from .board import FleetBoard
from .domain import SlotStatus

FINISHED = ("completed", "failed", "cancelled", "timeout")


def dispatch_stats(board: FleetBoard) -> dict[str, Any]:
    finished = {s: sum(a.last_hour.get(s, 0) for a in board.agents) for s in FINISHED}
    by_status = {
        "pending": sum(a.queue_depth for a in board.agents),
        "running": running_now(board),
        **finished,
    }
    return {"lastHourTotal": sum(by_status.values()), "byStatus": by_status}


def running_now(board: FleetBoard) -> int:
    """A dispatch can be named by several items (a slot per agent type it serves, and the
    ECS task a worker follows for it): count each dispatch (or unnamed task) once."""
    busy = {
        item.dispatch_id or item.task_arn
        for item in board.items
        if item.status == SlotStatus.IN_USE
        and item.is_live(now=board.now, dead_after=board.dead_after)
    }
    return len(busy)


def success_rate(last_hour: dict[str, int]) -> int:
    """The control plane's formula, completed / (completed + failed + timeout) in percent,
    over what finished in the last hour; 100 while nothing did, as there."""
    completed = last_hour.get("completed", 0)
    ended = completed + last_hour.get("failed", 0) + last_hour.get("timeout", 0)
    return round(completed * 100 / ended) if ended else 100


def avg_duration_ms(agent: str, run_time: Cells) -> int:
    """The mean run time of the agent's dispatches created today (UTC) that ran, in ms.

    The run-time histogram keeps bucket bounds, not sums: each run counts as its bucket's
    midpoint (0.5 s for the first, (lower + upper) / 2 after; the open last bucket counts as
    its lower bound, 24 h). The control plane averages its last hour's completed runs; the
    histogram is per creation day and counts every run that ended, whatever its status.
    """
    buckets = {b: n for (a, b), n in run_time.run_time.items() if a == agent and n > 0}
    runs = sum(buckets.values())
    if not runs:
        return 0
    seconds = sum(_midpoint(bucket) * n for bucket, n in buckets.items())
    return round(seconds * 1000 / runs)


def _midpoint(bucket: int) -> float:
    if bucket >= len(RUN_TIME_BOUNDS):
        return float(RUN_TIME_BOUNDS[-1])
    lower = RUN_TIME_BOUNDS[bucket - 1] if bucket else 0
    return (lower + RUN_TIME_BOUNDS[bucket]) / 2
