"""The dispatch API: the control plane's routes and /api/v1/dispatches. One class per operation.

Each answer's `data` is an Output serializer's, and the schema reads the same classes.
"""

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from outpost_admin.actors import actor_from
from outpost_admin.api.envelope import ApiError, ok, represent
from outpost_admin.api.fields import (
    NO_NUL,
    BlankAsNullField,
    IsoDateTimeField,
    PatternField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
)
from outpost_admin.api.schema import BAD_CURSOR, CURSOR_HELP, error_example, responses
from outpost_admin.dynamo import OutcomeUnknown, iso
from outpost_admin.middleware import RETRY_AFTER_SECONDS
from outpost_admin.validation import VISIBLE_NAME
from outpost_admin.webhook_urls import URL_MAX, WEBHOOK_URL, url_error
from tenants import authentication, budgets
from tenants.api_authentication import principal_of, scope_permission
from tenants.authentication import Principal
from tenants.domain import TIER_LIMITS, Scope

from . import lifecycle, selectors
from .agents import is_available
from .domain import (
    AGENTS,
    API_STATUSES,
    BRANCH_MAX,
    BRANCH_PATTERN,
    MAX_TAGS,
    REPO_MAX,
    REPO_PATTERN,
    TAG_NAME_MAX,
    TAG_VALUE_MAX,
    TASK_MAX,
    TASK_MIN,
    TIMEOUT_DEFAULT,
    TIMEOUT_MIN,
    Agent,
    BudgetExceeded,
    Dispatch,
    DispatchStatus,
    IdempotencyInFlight,
    IdempotencyMismatch,
    InvalidTransition,
    KeyNotActive,
    QuotaExceeded,
    StillActive,
    TenantNotActive,
    tag_rules,
)

CONCURRENCY_RETRY_SECONDS = 10
# No tier allows more; the caller's own tier may allow less (a 400 naming its cap).
TIMEOUT_CAP = max(limits.max_job_timeout_seconds for limits in TIER_LIMITS.values())
IDEMPOTENCY_KEY = r"^[\x21-\x7e]{1,255}$"
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY)
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    pattern=IDEMPOTENCY_KEY,
    description="Printable ASCII, no spaces, at most 255 characters. Without one, the answer's "
    "Idempotency-Key header carries a generated key: send it again to retry safely. "
    "If the body's `idempotencyKey` is sent too, the two must be equal (else a 400). "
    "A key already used with another body is a 422 (IDEMPOTENCY_MISMATCH); with the same "
    "body, the first answer again (Idempotent-Replayed: true).",
)
IDEMPOTENCY_BODY_HELP = (
    "Or the Idempotency-Key header: if both are sent they must be equal (else a 400). "
    "A key already used with another body is a 422."
)
KEYS_DIFFER = error_example(
    "IdempotencyKeysDiffer",
    "The Idempotency-Key header and the body's idempotencyKey differ",
    "VALIDATION_ERROR",
    "Invalid input: idempotencyKey.",
    {"idempotencyKey": ["Differs from the Idempotency-Key header."]},
)
KEY_REUSED = error_example(
    "IdempotencyMismatch",
    "The idempotency key was used before with another body",
    "IDEMPOTENCY_MISMATCH",
    "This idempotency key was used with a different request body.",
)
OVER_BUDGET = error_example(
    "BudgetExceeded",
    "This month's recorded spend has reached a hard budget (the tenant's or the key's)",
    "BUDGET_EXCEEDED",
    "This month's spend of $250.00 has reached the tenant's hard budget of $250.00; "
    "it resets at 2026-02-01T00:00:00.000Z.",
    {
        "budget": "tenant",
        "hardUsd": 250.0,
        "spentUsd": 250.0,
        "resetsAt": "2026-02-01T00:00:00.000Z",
    },
)
DAILY_LIMIT = error_example(
    "DailyLimit",
    "The tier's daily number of dispatches is reached",
    "RATE_LIMIT_EXCEEDED",
    "Daily limit of 500 dispatches reached.",
    {"limit": "daily", "max": 500, "current": 500, "resetsAt": "2026-01-16T00:00:00.000Z"},
)
IDEMPOTENCY_EXAMPLES = {
    400: [KEYS_DIFFER],
    422: [KEY_REUSED],
    429: [DAILY_LIMIT, OVER_BUDGET],
}


# --- output -------------------------------------------------------------------------------


@extend_schema_serializer(component_name="DispatchCreated")
class DispatchCreatedSerializer(serializers.Serializer):
    dispatchId = serializers.CharField(source="dispatch_id")
    status = serializers.ChoiceField(API_STATUSES, source="api_status")
    agent = serializers.CharField()
    modelId = serializers.CharField(source="model_id")
    createdAt = IsoDateTimeField(source="started_at")


@extend_schema_serializer(component_name="DispatchSummary")
class DispatchSummarySerializer(serializers.Serializer):
    dispatchId = serializers.CharField(source="dispatch_id")
    status = serializers.ChoiceField(API_STATUSES, source="api_status")
    agent = serializers.CharField()
    modelId = serializers.CharField(source="model_id")
    repo = BlankAsNullField()
    branch = BlankAsNullField()
    tags = serializers.DictField(child=serializers.CharField(allow_blank=True))
    createdAt = IsoDateTimeField(source="started_at")
    endedAt = IsoDateTimeField(source="ended_at", allow_null=True)


@extend_schema_serializer(component_name="DispatchCost")
class DispatchCostSerializer(serializers.Serializer):
    """What it cost in USD, priced as the control plane's ledger prices it."""

    total = serializers.FloatField(help_text="compute + memory + llm + storage, to the microdollar")
    compute = serializers.FloatField(help_text="vCPU-seconds from creation to end")
    memory = serializers.FloatField(help_text="GB-seconds from creation to end")
    llm = serializers.FloatField(help_text="tokens at the agent's rates and the model's tier")
    storage = serializers.FloatField()
    currency = serializers.CharField()
    modelTier = serializers.ChoiceField(["flagship", "balanced", "fast"], source="tier")
    tokensInput = serializers.IntegerField()
    tokensOutput = serializers.IntegerField()
    tokenSource = serializers.ChoiceField(
        ["parsed", "estimated", "unavailable"],
        help_text="parsed from the agent's output, estimated from its length, or unavailable",
    )
    durationSeconds = serializers.IntegerField()


@extend_schema_serializer(component_name="DispatchDetail")
class DispatchDetailSerializer(DispatchSummarySerializer):
    task = serializers.CharField()
    timeoutSeconds = serializers.IntegerField(source="timeout_seconds")
    startedAt = IsoDateTimeField(source="claimed_at", allow_null=True)
    exitCode = serializers.IntegerField(source="exit_code", allow_null=True)
    errorMessage = BlankAsNullField(source="error_message")
    statusReason = BlankAsNullField(source="status_reason")
    interruptions = serializers.IntegerField(
        help_text="Runs of it cut short (its worker died or stopped) and queued again; the "
        "last reason is statusReason."
    )
    cost = DispatchCostSerializer(allow_null=True, help_text="Set when it ends; null before.")
    logs = serializers.SerializerMethodField(help_text="The tail of the captured output.")

    @extend_schema_field(OpenApiTypes.STR)
    def get_logs(self, dispatch: Dispatch) -> str:
        return str(self.context["logs"])


@extend_schema_serializer(component_name="DispatchPage")
class DispatchPageSerializer(serializers.Serializer):
    items = DispatchSummarySerializer(many=True)
    cursor = serializers.CharField(
        allow_null=True, help_text="Pass it back as `cursor` for the next page; null at the end."
    )


def created_data(dispatch: Dispatch) -> dict[str, Any]:
    """The create answer, also stored for idempotent replays."""
    return dict(represent(DispatchCreatedSerializer, dispatch))


# --- input --------------------------------------------------------------------------------


_TAG_NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": TAG_NAME_MAX,
    "pattern": VISIBLE_NAME,
    "description": "Not blank; no control or format characters (Unicode Cc, Cf).",
}


@extend_schema_field(
    {
        "oneOf": [
            {
                "type": "object",
                "maxProperties": MAX_TAGS,
                "propertyNames": _TAG_NAME,
                "additionalProperties": {
                    "type": "string",
                    "maxLength": TAG_VALUE_MAX,
                    "pattern": NO_NUL,
                },
            },
            {"type": "array", "maxItems": MAX_TAGS, "items": _TAG_NAME},
        ]
    }
)
class TagsField(serializers.DictField):
    """A map of strings, as the control plane stores tags; a list of strings is accepted too,
    each becoming a tag with an empty value. The schema above states the same limits."""

    def __init__(self, **kwargs: Any):
        child = StrictCharField(max_length=TAG_VALUE_MAX, allow_blank=True)
        super().__init__(child=child, **kwargs)

    def to_internal_value(self, data: Any) -> dict[str, str]:
        if isinstance(data, list):
            if not all(isinstance(t, str) for t in data):
                raise serializers.ValidationError("A list of tags must hold strings only.")
            if len(data) > MAX_TAGS:  # counted before duplicates fold, as maxItems counts
                raise serializers.ValidationError(f"At most {MAX_TAGS} tags.")
            data = dict.fromkeys(data, "")
        tags: dict[str, str] = super().to_internal_value(data)
        try:
            return tag_rules(tags)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class DispatchInputSerializer(serializers.Serializer):
    """Every agent's fields; the per-agent subclasses below narrow `agent` and `modelId`."""

    agent = StrictChoiceField(
        choices=list(AGENTS),
        error_messages={
            "invalid_choice": f'"{{input}}" is not an agent. Allowed: {", ".join(AGENTS)}.'
        },
    )
    task = StrictCharField(min_length=TASK_MIN, max_length=TASK_MAX)
    modelId = StrictCharField(required=False, min_length=1, max_length=200)
    repo = PatternField(
        REPO_PATTERN,
        required=False,
        max_length=REPO_MAX,
        error_messages={
            "invalid": "Must be owner/name as GitHub allows it: no leading '-' or '.', no '..'."
        },
    )
    branch = PatternField(
        BRANCH_PATTERN,
        required=False,
        max_length=BRANCH_MAX,
        error_messages={
            "invalid": "Not a valid branch name (git check-ref-format --branch over letters, "
            "digits, '_', '-', '.' and '/'; no leading '-')."
        },
    )
    timeoutSeconds = StrictIntegerField(
        min_value=TIMEOUT_MIN,
        max_value=TIMEOUT_CAP,
        required=False,
        help_text=f"At most the tier's maxJobTimeoutSeconds (see /api/v1/me); if omitted, "
        f"{TIMEOUT_DEFAULT} or that maximum, whichever is lower.",
    )
    idempotencyKey = PatternField(
        IDEMPOTENCY_KEY,
        required=False,
        help_text=IDEMPOTENCY_BODY_HELP,
    )
    tags = TagsField(
        required=False,
        default=dict,
        help_text="A map of strings (a list of strings is taken as names with empty values).",
    )
    callbackUrl = PatternField(
        WEBHOOK_URL,
        required=False,
        max_length=URL_MAX,
        help_text="Receives this dispatch's terminal webhook event, signed with the tenant's "
        "callback secret (Standard Webhooks). https only. The control plane ignores it.",
    )

    def validate_callbackUrl(self, value: str) -> str:
        if error := url_error(value):
            raise serializers.ValidationError(error)
        return value


def _agent_input(agent: Agent) -> type[DispatchInputSerializer]:
    models = list(agent.models)
    fields = {
        "agent": StrictChoiceField(choices=[agent.name]),
        "modelId": StrictChoiceField(
            choices=models,
            default=agent.default_model,
            error_messages={
                "invalid_choice": f'"{{input}}" is not a {agent.name} model. '
                f"Allowed: {', '.join(models)}."
            },
        ),
    }
    name = f"{agent.name.title()}DispatchInput"
    built = type(f"{name}Serializer", (DispatchInputSerializer,), fields)
    return extend_schema_serializer(component_name=name)(built)


AGENT_INPUTS: dict[str, Any] = {name: _agent_input(agent) for name, agent in AGENTS.items()}
DISPATCH_INPUT = PolymorphicProxySerializer(
    component_name="DispatchInput",
    serializers=AGENT_INPUTS,
    resource_type_field_name="agent",
)


# --- operations ---------------------------------------------------------------------------


def _principal(request: Request) -> Principal:
    principal = principal_of(request)
    assert principal is not None  # the scope permission has checked it
    return principal


def _owned(request: Request, dispatch_id: str) -> Dispatch:
    """The caller's dispatch. Another tenant's is a 404 exactly like a missing one."""
    return selectors.dispatch_get(tenant_id=_principal(request).tenant_id, dispatch_id=dispatch_id)


_CREATE_SCHEMA = extend_schema(
    request=DISPATCH_INPUT,
    parameters=[IDEMPOTENCY_HEADER],
    responses=responses(
        201, DispatchCreatedSerializer, 409, 413, 415, 422, examples=IDEMPOTENCY_EXAMPLES
    ),
    description="Answers carry an Idempotency-Key header (the given key or a generated one). "
    "A 503 whose details say `outcome: unknown` means the dispatch may exist: "
    "send the same request with that Idempotency-Key again, which is safe.",
)


class BodyRequiredSchema(AutoSchema):
    """drf-spectacular marks a body required only when a serializer lists required fields,
    which a oneOf (DispatchInput) does not: a create without a body is a 400, so say so."""

    def _get_request_for_media_type(self, serializer: Any, direction: str = "request") -> Any:
        schema, _ = super()._get_request_for_media_type(serializer, direction)
        return schema, schema is not None


class DispatchCreateApi(APIView):
    permission_classes = [scope_permission(Scope.DISPATCH)]
    schema = BodyRequiredSchema()
    InputSerializer: type[serializers.Serializer] = DispatchInputSerializer

    @extend_schema(operation_id="dispatch_create", summary="Create a dispatch")
    @_CREATE_SCHEMA
    def post(self, request: Request) -> Response:
        principal = _principal(request)
        data = self._validated(request, principal)
        headers = {"Idempotency-Key": data.idempotency_key}
        try:
            with create_refusals(principal, data.idempotency_key, headers):
                dispatch = lifecycle.dispatch_create(
                    tenant_id=principal.tenant_id,
                    api_key_id=principal.key.api_key_id,
                    api_key_name=principal.key.name,
                    limits=principal.limits,
                    data=data,
                    body_hash=lifecycle.request_hash(request.data),
                    render=created_data,
                    actor=actor_from(request),
                )
        except lifecycle.Replay as replay:
            headers["Idempotent-Replayed"] = "true"
            return ok(request, replay.response, status_code=201, headers=headers)
        return ok(request, created_data(dispatch), status_code=201, headers=headers)

    def _validated(self, request: Request, principal: Principal) -> lifecycle.DispatchInput:
        """Field checks and the deployment's rules together, so every bad field is listed."""
        raw = request.data if isinstance(request.data, dict) else {}
        serializer = AGENT_INPUTS.get(str(raw.get("agent")), self.InputSerializer)(
            data=request.data
        )
        valid = serializer.is_valid()
        errors: dict[str, Any] = {} if valid else dict(serializer.errors)
        values = serializer.validated_data if valid else raw
        for field, message in _policy_errors(principal, values, request.headers).items():
            errors.setdefault(field, [message])
        if errors:
            raise serializers.ValidationError(errors)
        return lifecycle.DispatchInput(
            agent=values["agent"],
            task=values["task"],
            model_id=values["modelId"],
            repo=values.get("repo", ""),
            branch=values.get("branch", ""),
            timeout_seconds=values.get(
                "timeoutSeconds", min(TIMEOUT_DEFAULT, principal.limits.max_job_timeout_seconds)
            ),
            tags=values["tags"],
            callback_url=values.get("callbackUrl", ""),
            idempotency_key=values.get("idempotencyKey")
            or request.headers.get("Idempotency-Key")
            or f"generated-{uuid.uuid4()}",
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
    header_key, body_key = headers.get("Idempotency-Key"), values.get("idempotencyKey")
    if header_key is not None and not _IDEMPOTENCY_KEY.fullmatch(header_key):
        errors["idempotencyKey"] = "The Idempotency-Key header must be 1-255 printable characters."
    elif header_key and body_key and header_key != body_key:
        errors["idempotencyKey"] = "Differs from the Idempotency-Key header."
    return errors


@contextmanager
def create_refusals(
    principal: Principal, idempotency_key: str, headers: dict[str, str]
) -> Iterator[None]:
    """What a create answers when it is refused, or its outcome is unknown; a re-run is a
    create and answers the same (StillActive is the re-run's own)."""
    try:
        yield
    except QuotaExceeded as exc:
        raise _rate_limited(exc) from exc
    except KeyNotActive as exc:
        authentication.forget(key_hash=principal.key.key_hash)
        raise ApiError("AUTHENTICATION_ERROR", str(exc), status_code=401) from exc
    except TenantNotActive as exc:
        authentication.forget(tenant_id=principal.tenant_id)
        raise ApiError("AUTHORIZATION_ERROR", str(exc), status_code=403) from exc
    except IdempotencyMismatch as exc:
        raise ApiError("IDEMPOTENCY_MISMATCH", str(exc), status_code=422) from exc
    except (IdempotencyInFlight, StillActive) as exc:
        raise ApiError("CONFLICT", str(exc), status_code=409, headers=headers) from exc
    except OutcomeUnknown as exc:
        raise _outcome_unknown(idempotency_key) from exc


def _outcome_unknown(idempotency_key: str) -> ApiError:
    return ApiError(
        "SERVICE_UNAVAILABLE",
        "The data store did not confirm the write: the dispatch may or may not exist. "
        "Retrying with the same Idempotency-Key is safe.",
        status_code=503,
        details={"outcome": "unknown", "dispatchMayExist": True, "idempotencyKey": idempotency_key},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Idempotency-Key": idempotency_key},
    )


def _over_budget(exc: BudgetExceeded) -> ApiError:
    """A hard budget reached: which one, its amount and this month's spend (USD), and when
    the month ends; Retry-After counts down to then."""
    whose = "the API key's" if exc.limit == "key_budget" else "the tenant's"
    resets = iso(exc.resets_at) if exc.resets_at else None
    return ApiError(
        "BUDGET_EXCEEDED",
        f"This month's spend of {budgets.usd(exc.current)} has reached {whose} hard budget of "
        f"{budgets.usd(exc.maximum)}; it resets at {resets}.",
        status_code=429,
        details={
            "budget": "key" if exc.limit == "key_budget" else "tenant",
            "hardUsd": exc.maximum / budgets.MICROS,
            "spentUsd": exc.current / budgets.MICROS,
            "resetsAt": resets,
        },
        headers={"Retry-After": str(_seconds_until(exc.resets_at))},
    )


def _seconds_until(moment: datetime | None) -> int:
    if moment is None:
        return CONCURRENCY_RETRY_SECONDS
    return max(1, int((moment - datetime.now(UTC)).total_seconds()))


def _rate_limited(exc: QuotaExceeded) -> ApiError:
    if isinstance(exc, BudgetExceeded):
        return _over_budget(exc)
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
        since = IsoDateTimeField(required=False)
        until = IsoDateTimeField(required=False, help_text="Not before `since`.")
        cursor = PatternField(
            r"^[A-Za-z0-9_.:-]{1,1000}$",
            required=False,
            help_text=CURSOR_HELP,
        )
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
        responses=responses(200, DispatchPageSerializer, examples={400: [BAD_CURSOR]}),
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
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
        return ok(request, represent(DispatchPageSerializer, page))


class DispatchCollectionApi(DispatchListApi, DispatchCreateApi):
    """GET lists, POST creates; each checks its own scope."""

    def get_permissions(self) -> list[Any]:
        scope = Scope.LIST if self.request.method == "GET" else Scope.DISPATCH
        return [scope_permission(scope)()]


def _detail(request: Request, dispatch_id: str) -> Response:
    dispatch = _owned(request, dispatch_id)
    logs = selectors.log_tail_text(dispatch=dispatch)
    return ok(request, represent(DispatchDetailSerializer, dispatch, logs=logs))


def _cancel(request: Request, dispatch_id: str) -> Response:
    dispatch = _owned(request, dispatch_id)
    try:
        cancelled = lifecycle.dispatch_cancel(dispatch=dispatch, actor=actor_from(request))
    except InvalidTransition as exc:
        details = {"status": exc.status.api_value}
        raise ApiError("CONFLICT", str(exc), status_code=409, details=details) from exc
    return ok(request, represent(DispatchSummarySerializer, cancelled))


class DispatchDetailApi(APIView):
    permission_classes = [scope_permission(Scope.STATUS)]

    @extend_schema(
        operation_id="dispatch_get",
        summary="A dispatch's status, timings and log tail",
        responses=responses(200, DispatchDetailSerializer, 404),
    )
    def get(self, request: Request, dispatch_id: str) -> Response:
        return _detail(request, dispatch_id)


class DispatchCancelApi(APIView):
    permission_classes = [scope_permission(Scope.CANCEL)]

    @extend_schema(
        operation_id="dispatch_cancel",
        summary="Cancel a pending or running dispatch",
        request=None,
        responses=responses(200, DispatchSummarySerializer, 404, 409),
    )
    def post(self, request: Request, dispatch_id: str) -> Response:
        return _cancel(request, dispatch_id)


class LegacyCreateApi(DispatchCreateApi):
    """The control plane's POST /dispatch."""

    @extend_schema(operation_id="legacy_dispatch_create", deprecated=True)
    @_CREATE_SCHEMA
    def post(self, request: Request) -> Response:
        return super().post(request)


class LegacyDispatchApi(APIView):
    """The control plane's GET and DELETE /dispatch/<id> (DELETE cancels, as it does there)."""

    def get_permissions(self) -> list[Any]:
        scope = Scope.STATUS if self.request.method == "GET" else Scope.CANCEL
        return [scope_permission(scope)()]

    @extend_schema(
        operation_id="legacy_dispatch_get",
        deprecated=True,
        responses=responses(200, DispatchDetailSerializer, 404),
    )
    def get(self, request: Request, dispatch_id: str) -> Response:
        return _detail(request, dispatch_id)

    @extend_schema(
        operation_id="legacy_dispatch_cancel",
        deprecated=True,
        responses=responses(200, DispatchSummarySerializer, 404, 409),
    )
    def delete(self, request: Request, dispatch_id: str) -> Response:
        return _cancel(request, dispatch_id)
