"""Liveness, readiness and overall health."""

import time
from typing import Any

from django.http import HttpRequest, JsonResponse

from fleet.domain import SlotStatus
from fleet.selectors import pool_summary
from outpost_admin.api.envelope import meta
from outpost_admin.dynamo import StoreError, call, to_item, utcnow
from outpost_admin.dynamo.tables import TENANTS


def _store_check() -> dict[str, Any]:
    started = time.monotonic()
    try:
        call(
            "get_item", TableName=TENANTS.name, Key=to_item({"tenant_id": "HEALTH", "sk": "HEALTH"})
        )
    except StoreError as exc:
        return {"status": "fail", "error": type(exc).__name__}
    return {"status": "pass", "latencyMs": round((time.monotonic() - started) * 1000, 1)}


def _answer(request: HttpRequest, healthy: bool, data: dict[str, Any]) -> JsonResponse:
    body = {"success": healthy, "data": data, "meta": meta(request)}
    if not healthy:
        body["error"] = {"code": "SERVICE_UNAVAILABLE", "message": "Not ready.", "details": data}
    response = JsonResponse(body, status=200 if healthy else 503)
    if not healthy:
        response["Retry-After"] = "5"
    response["Cache-Control"] = "no-store"
    return response


def live(request: HttpRequest) -> JsonResponse:
    return _answer(request, True, {"status": "alive"})


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
    return _answer(
        request, healthy, {"status": "healthy" if healthy else "unhealthy", "checks": checks}
    )


def fleet(request: HttpRequest) -> JsonResponse:
    """The worker pool from its items (one Query per agent type): healthy while a slot is alive."""
    try:
        summary = pool_summary(now=utcnow())
    except StoreError as exc:
        return _answer(request, False, {"status": "unknown", "error": type(exc).__name__})
    data = {
        "status": "healthy" if summary.live_slots else "no_workers",
        "workers": len(summary.workers),
        "slots": {
            "total": summary.live_slots,
            "idle": summary.idle,
            "inUse": summary.in_use,
            "terminating": summary.by_status.get(SlotStatus.TERMINATING, 0),
            "stale": summary.stale,
        },
        "byAgent": summary.by_agent,
    }
    return _answer(request, summary.live_slots > 0, data)
