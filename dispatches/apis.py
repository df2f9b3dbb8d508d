"""The dispatch API: the control plane's routes and /api/v1/dispatches. One class per operation."""

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from outpost_admin.actors import actor_from
from outpost_admin.api.authentication import principal_of, scope_permission
from outpost_admin.api.envelope import ApiError, ok
from outpost_admin.api.schema import ERROR, responses
from outpost_admin.dynamo import iso
from tenants.authentication import Principal
from tenants.domain import Scope

from . import selectors, services
from .agents import is_available
from .domain import (
    AGENTS,
    API_STATUSES,
    TASK_MAX,
    TASK_MIN,
    TIMEOUT_DEFAULT,
    TIMEOUT_MAX,
    TIMEOUT_MIN,
    Dispatch,
    DispatchStatus,
    IdempotencyInFlight,
    IdempotencyMismatch,
    InvalidTransition,
    QuotaExceeded,
    TenantNotActive,
)

CONCURRENCY_RETRY_SECONDS = 10


def summary_data(d: Dispatch) -> dict[str, Any]:
    return {
        "dispatchId": d.dispatch_id,
        "status": d.api_status,
        "agent": d.agent,
        "modelId": d.model_id,
        "repo": d.repo or None,
        "branch": d.branch or None,
        "tags": list(d.tags),
        "createdAt": iso(d.started_at),
        "endedAt": iso(d.ended_at) if d.ended_at else None,
    }


def detail_data(d: Dispatch, log_tail: str) -> dict[str, Any]:
    return {
        **summary_data(d),
        "task": d.task,
        "timeoutSeconds": d.timeout_seconds,
        "startedAt": iso(d.claimed_at) if d.claimed_at else None,
        "exitCode": d.exit_code,
        "errorMessage": d.error_message or None,
        "statusReason": d.status_reason or None,
        "logs": log_tail,
    }


def created_data(d: Dispatch) -> dict[str, Any]:
    return {
        "dispatchId": d.dispatch_id,
        "status": d.api_status,
        "agent": d.agent,
        "modelId": d.model_id,
        "createdAt": iso(d.started_at),
    }


_CREATED = inline_serializer(
    "DispatchCreated",
    {
        "dispatchId": serializers.CharField(),
        "status": serializers.ChoiceField(API_STATUSES),
        "agent": serializers.CharField(),
        "modelId": serializers.CharField(),
        "createdAt": serializers.DateTimeField(),
    },
)
_SUMMARY_FIELDS: dict[str, Any] = {
    "dispatchId": serializers.CharField(),
    "status": serializers.ChoiceField(API_STATUSES),
    "agent": serializers.CharField(),
    "modelId": serializers.CharField(),
    "repo": serializers.CharField(allow_null=True),
    "branch": serializers.CharField(allow_null=True),
    "tags": serializers.ListField(child=serializers.CharField()),
    "createdAt": serializers.DateTimeField(),
    "endedAt": serializers.DateTimeField(allow_null=True),
}
_SUMMARY = inline_serializer("DispatchSummary", _SUMMARY_FIELDS)
_DETAIL = inline_serializer(
    "DispatchDetail",
    {
        **_SUMMARY_FIELDS,
        "task": serializers.CharField(),
        "timeoutSeconds": serializers.IntegerField(),
        "startedAt": serializers.DateTimeField(allow_null=True),
        "exitCode": serializers.IntegerField(allow_null=True),
        "errorMessage": serializers.CharField(allow_null=True),
        "statusReason": serializers.CharField(allow_null=True),
        "logs": serializers.CharField(help_text="The tail of the captured output."),
    },
)
_PAGE = inline_serializer(
    "DispatchPage",
    {
        "items": serializers.ListField(child=_SUMMARY),
        "cursor": serializers.CharField(allow_null=True),
    },
)


def _principal(request: Request) -> Principal:
    principal = principal_of(request)
    assert principal is not None  # the scope permission has checked it
    return principal


def _owned(request: Request, dispatch_id: str) -> Dispatch:
    """The caller's dispatch. Another tenant's is a 404 exactly like a missing one."""
    return services.dispatch_get(tenant_id=_principal(request).tenant_id, dispatch_id=dispatch_id)


class DispatchInputSerializer(serializers.Serializer):
    agent = serializers.ChoiceField(
        choices=list(AGENTS),
        error_messages={
            "invalid_choice": f'"{{input}}" is not an agent. Allowed: {", ".join(AGENTS)}.'
        },
    )
    task = serializers.CharField(min_length=TASK_MIN, max_length=TASK_MAX, trim_whitespace=False)
    modelId = serializers.CharField(required=False, max_length=200)
    repo = serializers.RegexField(
        r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$",
        required=False,
        error_messages={"invalid": "Must be owner/name."},
    )
    branch = serializers.RegexField(
        r"^[A-Za-z0-9._/-]{1,255}$",
        required=False,
        error_messages={"invalid": "Not a valid branch name."},
    )
    timeoutSeconds = serializers.IntegerField(
        min_value=TIMEOUT_MIN, max_value=TIMEOUT_MAX, default=TIMEOUT_DEFAULT
    )
    idempotencyKey = serializers.CharField(required=False, min_length=1, max_length=255)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=20, default=list
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        agent = AGENTS[attrs["agent"]]
        model = attrs.setdefault("modelId", agent.default_model)
        if model not in agent.models:
            allowed = ", ".join(agent.models)
            raise serializers.ValidationError(
                {"modelId": [f'"{model}" is not a {agent.name} model. Allowed: {allowed}.']}
            )
        return attrs


class DispatchCreateApi(APIView):
    permission_classes = [scope_permission(Scope.DISPATCH)]

    @extend_schema(
        operation_id="dispatch_create",
        summary="Create a dispatch",
        request=DispatchInputSerializer,
        parameters=[
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)
        ],
        responses={
            **responses(201, "DispatchCreated", _CREATED),
            409: ERROR,
            422: ERROR,
            429: ERROR,
        },
    )
    def post(self, request: Request) -> Response:
        principal = _principal(request)
        data = self._validated(request, principal)
        body_hash = services.request_hash(request.data)
        try:
            dispatch = services.dispatch_create(
                tenant_id=principal.tenant_id,
                api_key_id=principal.key.api_key_id,
                limits=principal.limits,
                data=data,
                body_hash=body_hash,
                render=created_data,
                actor=actor_from(request),
            )
        except services.Replay as replay:
            return ok(
                request, replay.response, status_code=201, headers={"Idempotent-Replayed": "true"}
            )
        except QuotaExceeded as exc:
            raise _rate_limited(exc) from exc
        except TenantNotActive as exc:
            raise ApiError("AUTHORIZATION_ERROR", str(exc), status_code=403) from exc
        except IdempotencyMismatch as exc:
            raise ApiError("IDEMPOTENCY_MISMATCH", str(exc), status_code=422) from exc
        except IdempotencyInFlight as exc:
            raise ApiError("CONFLICT", str(exc), status_code=409) from exc
        return ok(request, created_data(dispatch), status_code=201)

    def _validated(self, request: Request, principal: Principal) -> services.DispatchInput:
        """Field checks and the deployment's rules together, so every bad field is listed."""
        serializer = DispatchInputSerializer(data=request.data)
        valid = serializer.is_valid()
        errors: dict[str, Any] = {} if valid else dict(serializer.errors)
        raw = request.data if isinstance(request.data, dict) else {}
        values = serializer.validated_data if valid else raw
        for field, message in _policy_errors(principal, values, request.headers).items():
            errors.setdefault(field, [message])
        if errors:
            raise serializers.ValidationError(errors)
        return services.DispatchInput(
            agent=values["agent"],
            task=values["task"],
            model_id=values["modelId"],
            repo=values.get("repo", ""),
            branch=values.get("branch", ""),
            timeout_seconds=values["timeoutSeconds"],
            tags=values["tags"],
            idempotency_key=values.get("idempotencyKey")
            or request.headers.get("Idempotency-Key", ""),
        )


def _policy_errors(principal: Principal, values: Any, headers: Any) -> dict[str, str]:
    """The tier's timeout cap, the agents this deployment runs, one idempotency key."""
    errors = {}
    timeout, agent = values.get("timeoutSeconds"), values.get("agent")
    cap = principal.limits.max_job_timeout_seconds
    if isinstance(timeout, int) and timeout > cap:
        errors["timeoutSeconds"] = f"Must be at most {cap} seconds on the {principal.tier} tier."
    if isinstance(agent, str) and agent in AGENTS and not is_available(agent):
        errors["agent"] = f'The agent "{agent}" is not available on this deployment.'
    header_key, body_key = headers.get("Idempotency-Key", ""), values.get("idempotencyKey")
    if len(header_key) > 255:
        errors["idempotencyKey"] = "Must be at most 255 characters."
    elif header_key and body_key and header_key != body_key:
        errors["idempotencyKey"] = "Differs from the Idempotency-Key header."
    return errors


def _rate_limited(exc: QuotaExceeded) -> ApiError:
    retry = CONCURRENCY_RETRY_SECONDS
    if exc.resets_at:
        retry = max(1, int((exc.resets_at - datetime.now(UTC)).total_seconds()))
    details = {
        "limit": exc.limit,
        "max": exc.maximum,
        "current": exc.current,
        "resetsAt": iso(exc.resets_at) if exc.resets_at else None,
    }
    message = (
        f"Daily limit of {exc.maximum} dispatches reached."
        if exc.limit == "daily"
        else f"Concurrency limit of {exc.maximum} running dispatches reached."
    )
    return ApiError(
        "RATE_LIMIT_EXCEEDED",
        message,
        status_code=429,
        details=details,
        headers={"Retry-After": str(retry)},
    )


class DispatchListApi(APIView):
    permission_classes = [scope_permission(Scope.LIST)]

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=API_STATUSES, required=False)
        agent = serializers.ChoiceField(choices=list(AGENTS), required=False)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)
        cursor = serializers.CharField(required=False, max_length=4000)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=25)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            since, until = attrs.get("since"), attrs.get("until")
            if since and until and since > until:
                raise serializers.ValidationError(
                    {"until": ["The end of the range is before its start."]}
                )
            return attrs

    @extend_schema(
        operation_id="dispatch_list",
        summary="List your dispatches, newest first",
        parameters=[FilterSerializer],
        responses=responses(200, "DispatchPage", _PAGE),
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        page = selectors.dispatch_list(
            tenant_id=_principal(request).tenant_id,
            status=DispatchStatus.from_api(values["status"]) if "status" in values else None,
            agent=values.get("agent", ""),
            since=values.get("since"),
            until=values.get("until"),
            cursor=values.get("cursor"),
            limit=values["limit"],
        )
        return ok(request, {"items": [summary_data(d) for d in page.items], "cursor": page.cursor})


class DispatchCollectionApi(DispatchListApi, DispatchCreateApi):
    """GET lists, POST creates; each checks its own scope."""

    def get_permissions(self) -> list[Any]:
        scope = Scope.LIST if self.request.method == "GET" else Scope.DISPATCH
        return [scope_permission(scope)()]


class DispatchDetailApi(APIView):
    permission_classes = [scope_permission(Scope.STATUS)]

    @extend_schema(
        operation_id="dispatch_get",
        summary="A dispatch's status, timings and log tail",
        responses=responses(200, "DispatchDetail", _DETAIL),
    )
    def get(self, request: Request, dispatch_id: str) -> Response:
        dispatch = _owned(request, dispatch_id)
        return ok(
            request,
            detail_data(dispatch, selectors.log_tail_text(dispatch_id=dispatch.dispatch_id)),
        )


class DispatchCancelApi(APIView):
    permission_classes = [scope_permission(Scope.CANCEL)]

    @extend_schema(
        operation_id="dispatch_cancel",
        summary="Cancel a pending or running dispatch",
        request=None,
        responses={**responses(200, "DispatchCancelled", _SUMMARY), 409: ERROR},
    )
    def post(self, request: Request, dispatch_id: str) -> Response:
        dispatch = _owned(request, dispatch_id)
        try:
            cancelled = services.dispatch_cancel(dispatch=dispatch, actor=actor_from(request))
        except InvalidTransition as exc:
            details = {"status": exc.status.api_value}
            raise ApiError("CONFLICT", str(exc), status_code=409, details=details) from exc
        return ok(request, summary_data(cancelled))


class LegacyCreateApi(DispatchCreateApi):
    """The control plane's POST /dispatch."""

    @extend_schema(
        operation_id="legacy_dispatch_create",
        deprecated=True,
        request=DispatchInputSerializer,
        responses={
            **responses(201, "DispatchCreated", _CREATED),
            409: ERROR,
            422: ERROR,
            429: ERROR,
        },
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


class LegacyDispatchApi(APIView):
    """The control plane's GET and DELETE /dispatch/<id>."""

    def get_permissions(self) -> list[Any]:
        scope = Scope.STATUS if self.request.method == "GET" else Scope.CANCEL
        return [scope_permission(scope)()]

    @extend_schema(
        operation_id="legacy_dispatch_get",
        deprecated=True,
        responses=responses(200, "DispatchDetail", _DETAIL),
    )
    def get(self, request: Request, dispatch_id: str) -> Response:
        return DispatchDetailApi.get(self, request, dispatch_id)  # type: ignore[arg-type]

    @extend_schema(
        operation_id="legacy_dispatch_cancel",
        deprecated=True,
        responses={**responses(200, "DispatchCancelled", _SUMMARY), 409: ERROR},
    )
    def delete(self, request: Request, dispatch_id: str) -> Response:
        return DispatchCancelApi.post(self, request, dispatch_id)  # type: ignore[arg-type]
