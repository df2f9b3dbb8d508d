"""Liveness, readiness, overall health and the fleet, in the control plane's shapes.

Each answer has the control plane's keys (top-level `status`, and for /health `version`,
`uptime`, `checks`; for /health/fleet `data.pool{totalTasks, idleTasks, inUseTasks,
terminatingTasks, byAgent}`, `data.agents[{agent, available, successRate, avgDurationMs,
...}]`, `data.system{cpuUsagePercent, memoryUsagePercent, memoryUsedMB, memoryTotalMB,
heapUsedMB, heapTotalMB}`, `data.dispatches{lastHourTotal, byStatus}`, `uptime`, `timestamp`), plus the envelope's `success`/`meta` and our own detail beside them.
"""

import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from outpost_admin import system_metrics
from outpost_admin.agents import AGENTS
from outpost_admin.api.envelope import meta
from outpost_admin.dynamo import StoreError, call, iso, to_item, utcnow
from outpost_admin.dynamo.tables import TENANTS
from usage import storage as usage_storage
from usage.figures import Cells

from . import health_stats
from .board import AgentRow, FleetBoard
from .domain import AgentPool, PoolSummary, SlotStatus, summarize
from .selectors import fleet_board

VERSION = "2.0.0"
# The control plane's AGENT_CONFIGS[agent].maxConcurrent, which its fleet answer repeats.
MAX_CONCURRENT = {"claude": 5, "codex": 5, "gemini": 5, "aider": 3, "grok": 5}
STARTED = time.monotonic()


def _uptime() -> int:
    return int(time.monotonic() - STARTED)


def _store_check() -> dict[str, Any]:
    started = time.monotonic()
    try:
        call(
            "get_item", TableName=TENANTS.name, Key=to_item({"tenant_id": "HEALTH", "sk": "HEALTH"})
        )
    except StoreError as exc:
        return {"status": "fail", "error": type(exc).__name__}
    return {"status": "pass", "latencyMs": round((time.monotonic() - started) * 1000, 1)}


def _answer(
    request: HttpRequest,
    healthy: bool,
    data: dict[str, Any],
    *,
    more_meta: dict[str, Any] | None = None,
    **top: Any,
) -> JsonResponse:
    body = {
        "success": healthy,
        "status": data["status"],
        **top,
        "data": data,
        "meta": {**meta(request), **(more_meta or {})},
    }
    if not healthy:
        body["error"] = {"code": "SERVICE_UNAVAILABLE", "message": "Not ready.", "details": data}
    response = JsonResponse(body, status=200 if healthy else 503)
    if not healthy:
        response["Retry-After"] = "5"
    response["Cache-Control"] = "no-store"
    return response


def live(request: HttpRequest) -> JsonResponse:
    return _answer(request, True, {"status": "alive"}, status="ok")  # the control plane's "ok"


def ready(request: HttpRequest) -> JsonResponse:
    check = _store_check()
    healthy = check["status"] == "pass"
    return _answer(
        request,
        healthy,
        {"status": "ready" if healthy else "not_ready", "checks": {"dynamodb": check}},
    )


def overall(request: HttpRequest) -> JsonResponse:
    checks = {"dynamodb": _store_check()}
    healthy = all(c["status"] == "pass" for c in checks.values())
    data = {"status": "healthy" if healthy else "unhealthy", "checks": checks}
    return _answer(request, healthy, data, version=VERSION, uptime=_uptime(), checks=checks)


@dataclass(frozen=True)
class _Snapshot:
    """One computation of the fleet's health, served to every request within the window."""

    healthy: bool
    data: dict[str, Any]
    at: float  # time.monotonic() when computed


_latest: _Snapshot | None = None
_refreshing = threading.Lock()


def forget_fleet() -> None:
    """Drop the cached answer (tests; the next request computes afresh)."""
    global _latest
    _latest = None


def _fresh(snapshot: _Snapshot) -> bool:
    return time.monotonic() - snapshot.at < settings.OUTPOST_HEALTH_CACHE_SECONDS


def _fleet_snapshot() -> tuple[_Snapshot, bool]:
    """The endpoint is unauthenticated: every process computes the fleet's health at most
    once per window, however many requests come. One thread recomputes while the others
    serve the previous answer; only when there is none yet do they wait for it.
    Returns the snapshot and whether it was cached (computed for another request)."""
    global _latest
    latest = _latest
    if latest is not None and _fresh(latest):
        return latest, True
    if not _refreshing.acquire(blocking=latest is None):
        assert latest is not None
        return latest, True  # stale by less than one computation
    try:
        if _latest is not None and _fresh(_latest):  # computed while this thread waited
            return _latest, True
        _latest = _fleet_computed()
        return _latest, False
    finally:
        _refreshing.release()


def fleet(request: HttpRequest) -> JsonResponse:
    """The fleet's health from a per-process cache (OUTPOST_HEALTH_CACHE_SECONDS); `meta`
    says, as the control plane's does, whether the answer was cached and how old it is."""
    snapshot, cached = _fleet_snapshot()
    cache = {"cached": cached, "cacheAgeMs": round((time.monotonic() - snapshot.at) * 1000)}
    return _answer(request, snapshot.healthy, snapshot.data, more_meta=cache)


def _fleet_computed() -> _Snapshot:
    """The pool from its items, one Query per agent type, counted as the control plane counts
    it (our slots and its ECS tasks alike); healthy while every agent has an idle task,
    degraded while some have, unhealthy (503) while none has. It reads the fleet page's
    selector, and adds the page's detail (live slots, queue) beside the control plane's keys.
    A failing store is cached too: the window also protects a store that is struggling."""
    try:
        board = fleet_board(now=utcnow())
        run_time = usage_storage.global_cells([board.now.date()]).get(board.now.date(), Cells())
    except StoreError as exc:
        return _Snapshot(
            False, {"status": "unknown", "error": type(exc).__name__}, time.monotonic()
        )
    summary = summarize(board.items, now=board.now, dead_after=board.dead_after)
    rows = {row.agent: row for row in board.agents}
    agents = [_agent(name, summary, rows.get(name), run_time) for name in AGENTS]
    available = sum(1 for a in agents if a["available"])
    status = "healthy" if available == len(agents) else "degraded" if available else "unhealthy"
    data = {
        "status": status,
        "pool": _pool(summary),
        "agents": agents,
        "system": system_metrics.system(),
        "dispatches": health_stats.dispatch_stats(board),
        "uptime": _uptime(),
        "timestamp": iso(utcnow()),
        **_ours(board, summary),
    }
    return _Snapshot(status != "unhealthy", data, time.monotonic())


def _ours(board: FleetBoard, summary: PoolSummary) -> dict[str, Any]:
    """Our detail, beside the control plane's keys."""
    return {
        "workers": len(summary.workers),
        "slots": {
            "total": summary.live_slots,
            "idle": summary.slots.get(SlotStatus.IDLE, 0),
            "inUse": summary.slots.get(SlotStatus.IN_USE, 0),
            "terminating": summary.slots.get(SlotStatus.TERMINATING, 0),
            "stale": summary.stale,
        },
        "controlPlaneTasks": summary.control_plane_tasks,
        "streams": {
            "lagSeconds": board.stream_lag_seconds,
            "shards": [
                {
                    "table": r.table,
                    "shardId": r.shard_id,
                    "lagSeconds": r.lag_seconds,
                    "trims": r.trims,
                }
                for r in board.streams
            ],
        },
    }


def _pool(summary: PoolSummary) -> dict[str, Any]:
    return {
        "totalTasks": summary.total(),
        "idleTasks": summary.total("idle"),
        "inUseTasks": summary.total("in_use"),
        "terminatingTasks": summary.total("terminating"),
        "byAgent": [
            {
                "agentType": name,
                "totalTasks": pool.total,
                "idleTasks": pool.idle,
                "inUseTasks": pool.in_use,
                "averageWaitTime": 0,
            }
            for name in AGENTS
            for pool in [summary.by_agent.get(name) or _empty(name)]
        ],
    }


def _agent(
    name: str, summary: PoolSummary, row: AgentRow | None, run_time: Cells
) -> dict[str, Any]:
    pool = summary.by_agent.get(name) or _empty(name)
    ours = {}
    if row is not None:  # the fleet page's detail, beside the control plane's keys
        ours = {
            "reason": row.reason or None,
            "liveSlots": row.live_slots,
            "queueDepth": row.queue_depth,
        }
    return {
        "agent": name,
        "available": pool.idle > 0,
        "modelId": AGENTS[name].default_model,
        "idleWorkers": pool.idle,
        "busyWorkers": pool.in_use,
        "poolSize": pool.total,
        "active": pool.in_use,
        "idle": pool.idle,
        "successRate": health_stats.success_rate(row.last_hour if row else {}),
        "avgDurationMs": health_stats.avg_duration_ms(name, run_time),
        "maxConcurrent": MAX_CONCURRENT.get(name, 5),
        **ours,
    }


def _empty(name: str) -> AgentPool:
    return AgentPool(name)
