"""Liveness, readiness, overall health and the fleet, in the control plane's shapes.

Each answer has the control plane's keys (top-level `status`, and for /health `version`,
`uptime`, `checks`; for /health/fleet `data.pool{totalTasks, idleTasks, inUseTasks,
terminatingTasks, byAgent}`, `data.agents[{agent, available, ...}]`, `data.dispatches`,
`uptime`, `timestamp`), plus the envelope's `success`/`meta` and our own detail beside them.
"""

import time
from typing import Any

from django.http import HttpRequest, JsonResponse

from fleet.board import AgentRow
from fleet.domain import AgentPool, PoolSummary, SlotStatus, summarize
from fleet.selectors import fleet_board
from outpost_admin.agents import AGENTS
from outpost_admin.api.envelope import meta
from outpost_admin.dynamo import StoreError, call, iso, to_item, utcnow
from outpost_admin.dynamo.tables import TENANTS

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


def _answer(request: HttpRequest, healthy: bool, data: dict[str, Any], **top: Any) -> JsonResponse:
    body = {
        "success": healthy,
        "status": data["status"],
        **top,
        "data": data,
        "meta": meta(request),
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


def fleet(request: HttpRequest) -> JsonResponse:
    """The pool from its items, one Query per agent type, counted as the control plane counts
    it (our slots and its ECS tasks alike); healthy while every agent has an idle task,
    degraded while some have, unhealthy (503) while none has. It reads the fleet page's
    selector, and adds the page's detail (live slots, queue) beside the control plane's keys."""
    try:
        board = fleet_board(now=utcnow())
    except StoreError as exc:
        return _answer(request, False, {"status": "unknown", "error": type(exc).__name__})
    summary = summarize(board.items, now=board.now, dead_after=board.dead_after)
    rows = {row.agent: row for row in board.agents}
    agents = [_agent(name, summary, rows.get(name)) for name in AGENTS]
    available = sum(1 for a in agents if a["available"])
    status = "healthy" if available == len(agents) else "degraded" if available else "unhealthy"
    data = {
        "status": status,
        "pool": _pool(summary),
        "agents": agents,
        "uptime": _uptime(),
        "timestamp": iso(utcnow()),
        # Ours, beside the control plane's keys:
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
    return _answer(request, status != "unhealthy", data)


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


def _agent(name: str, summary: PoolSummary, row: AgentRow | None) -> dict[str, Any]:
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
        "maxConcurrent": MAX_CONCURRENT.get(name, 5),
        **ours,
    }


def _empty(name: str) -> AgentPool:
    return AgentPool(name)
