"""The body every attempt of an event sends: `{type, timestamp, data}`, where `data` is the
dispatch as `GET /api/v1/dispatches/<id>` returns it, without its log."""

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from drf_spectacular.utils import extend_schema_serializer

from dispatches.apis import DispatchDetailSerializer
from dispatches.domain import Dispatch, DispatchStatus
from outpost_admin.api.envelope import represent
from outpost_admin.dynamo import iso


@extend_schema_serializer(component_name="WebhookDispatch")
class WebhookDispatchSerializer(DispatchDetailSerializer):
    logs = None  # type: ignore[assignment]  # the API's detail, without its log


def body(*, event_type: str, occurred_at: datetime, data: dict[str, Any]) -> str:
    document = {"type": event_type, "timestamp": iso(occurred_at), "data": data}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def dispatch_data(dispatch: Dispatch, *, event_type: str) -> dict[str, Any]:
    """The dispatch as the event saw it: a started event read after the run ended shows the
    run as it began (RUNNING, no outcome yet)."""
    if event_type == "dispatch.started" and dispatch.status != DispatchStatus.RUNNING:
        dispatch = replace(
            dispatch,
            status=DispatchStatus.RUNNING,
            ended_at=None,
            exit_code=None,
            error_message="",
            status_reason="",
        )
    return dict(represent(WebhookDispatchSerializer, dispatch))
