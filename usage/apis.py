"""Usage as JSON: GET /api/v1/usage (a tenant's key, its own tenant) and
GET /api/v1/admin/usage (operators: a staff session or the `operator` scope).
One class per operation, with its Input and Output serializers."""

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from outpost_admin.agents import AGENTS
from outpost_admin.api.envelope import ok
from outpost_admin.api.schema import error_example, responses
from tenants import selectors as tenant_selectors
from tenants.api_authentication import principal_of, scope_permission
from tenants.domain import Scope

from . import selectors as usage_selectors
from .figures import LIMITS, MAX_DAYS, STATUSES, DayUsage, UsageReport
from .forms import date_range


class IsOperator(permissions.BasePermission):
    """A staff session, or a key with the `operator` scope (acting across tenants)."""

    message = "Staff login or an API key with the 'operator' scope is required."

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = principal_of(request)
        if principal is not None:
            return "operator" in {str(s) for s in principal.key.scopes}
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)


class RunTimeOutput(serializers.Serializer):
    agent = serializers.CharField()
    runs = serializers.IntegerField()
    p50Seconds = serializers.FloatField(source="p50", allow_null=True)
    p95Seconds = serializers.FloatField(source="p95", allow_null=True)


class StatusCountsOutput(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {s: serializers.IntegerField(default=0) for s in STATUSES}


class LimitCountsOutput(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {x: serializers.IntegerField(default=0) for x in LIMITS}


class DayOutput(serializers.Serializer):
    day = serializers.DateField()
    dispatches = serializers.IntegerField()
    byStatus = StatusCountsOutput(source="by_status")
    byAgent = serializers.DictField(child=serializers.IntegerField(), source="by_agent")
    byKey = serializers.DictField(
        child=serializers.IntegerField(),
        source="by_key",
        help_text='Dispatches per API key id ("-": created without a key).',
    )
    rejections = LimitCountsOutput(help_text="Creates refused (429) per limit.")
    runTime = RunTimeOutput(many=True, source="run_times")
    spendUsd = serializers.FloatField(
        source="spend_usd",
        help_text="What the dispatches that ended that day cost (USD, to the microdollar), "
        "as their `cost.total` says.",
    )
    spendByAgent = serializers.SerializerMethodField(help_text="Spend (USD) per agent.")
    spendByModel = serializers.SerializerMethodField(
        help_text='Spend (USD) per model ("other": one the registry does not list); empty '
        "under a key filter."
    )
    spendByKey = serializers.SerializerMethodField(
        help_text='Spend (USD) per API key id ("-": dispatches without a key).'
    )

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "number"}})
    def get_spendByAgent(self, day: DayUsage) -> dict[str, float]:
        return day.spend_usd_by("agent")

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "number"}})
    def get_spendByModel(self, day: DayUsage) -> dict[str, float]:
        return day.spend_usd_by("model")

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "number"}})
    def get_spendByKey(self, day: DayUsage) -> dict[str, float]:
        return day.spend_usd_by("key")


class TopTenantOutput(serializers.Serializer):
    tenantId = serializers.CharField(source="tenant_id")
    name = serializers.CharField()
    dispatches = serializers.IntegerField()


# One query parameter requiring another is beyond OpenAPI 3.1: the descriptions say it, an
# example shows the 400, and the fuzz run's hooks send both or neither (tests/api_fuzz_hooks.py).
RANGE_NEEDS_BOTH_ENDS = error_example(
    "RangeNeedsBothEnds",
    "`since` without `until`, or `until` without `since`",
    "VALIDATION_ERROR",
    "Invalid input: since.",
    {"since": ["A custom range needs a first and a last day."]},
)


class UsageInput(serializers.Serializer):
    days = serializers.ChoiceField(
        choices=["7", "30", "90"],
        required=False,
        default="30",
        help_text="Ignored when `since` and `until` are sent.",
    )
    since = serializers.DateField(
        required=False,
        help_text=f"First day (UTC) of a custom range. Needs `until` (without it, a 400); at most "
        f"{MAX_DAYS} days.",
    )
    until = serializers.DateField(
        required=False,
        help_text="Last day (UTC) of a custom range, not before `since`. Needs `since` "
        "(without it, a 400).",
    )
    agent = serializers.ChoiceField(choices=list(AGENTS), required=False, default="")
    key = serializers.UUIDField(
        required=False,
        help_text="Only this API key's dispatches (on the admin API, with `tenant`).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        custom = "since" in attrs or "until" in attrs
        try:
            attrs["first"], attrs["last"] = date_range(
                "custom" if custom else attrs["days"], attrs.get("since"), attrs.get("until")
            )
        except ValueError as exc:
            raise serializers.ValidationError({"since": [str(exc)]}) from exc
        return attrs


def _report(data: dict[str, Any], tenant_id: str | None) -> UsageReport:
    return usage_selectors.usage_report(
        tenant_id=tenant_id,
        since=data["first"],
        until=data["last"],
        agent=data["agent"],
        key_id=str(data.get("key") or ""),
    )


class UsageApi(APIView):
    permission_classes = [scope_permission(Scope.LIST)]

    @extend_schema_serializer(component_name="UsageOutput")
    class OutputSerializer(serializers.Serializer):
        tenantId = serializers.CharField()
        since = serializers.DateField(source="report.since")
        until = serializers.DateField(source="report.until")
        totals = DayOutput(source="report.totals")
        days = DayOutput(many=True, source="report.days")

    @extend_schema(
        operation_id="usage_get",
        summary="The key's tenant's dispatches per day, by status, agent and key",
        parameters=[UsageInput],
        responses=responses(200, OutputSerializer, examples={400: [RANGE_NEEDS_BOTH_ENDS]}),
    )
    def get(self, request: Request) -> Response:
        principal = principal_of(request)
        assert principal is not None  # the scope permission needs a key
        data = UsageInput(data=request.query_params.dict())
        data.is_valid(raise_exception=True)
        report = _report(data.validated_data, principal.tenant_id)
        body = {"tenantId": principal.tenant_id, "report": report}
        return ok(request, self.OutputSerializer(body).data)


class AdminUsageApi(APIView):
    permission_classes = [IsOperator]

    class InputSerializer(UsageInput):
        tenant = serializers.UUIDField(
            required=False, help_text="One tenant (default: all); needed by `key`."
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if attrs.get("key") and not attrs.get("tenant"):
                raise serializers.ValidationError({"key": ["Filtering by key needs a tenant."]})
            return super().validate(attrs)

    @extend_schema_serializer(component_name="AdminUsageOutput")
    class OutputSerializer(serializers.Serializer):
        tenantId = serializers.CharField(allow_null=True)
        since = serializers.DateField(source="report.since")
        until = serializers.DateField(source="report.until")
        totals = DayOutput(source="report.totals")
        days = DayOutput(many=True, source="report.days")
        topTenants = TopTenantOutput(many=True, source="report.top_tenants")

    @extend_schema(
        operation_id="admin_usage_get",
        summary="Every tenant's (or one tenant's) dispatches per day, and the top tenants",
        parameters=[InputSerializer],
        responses=responses(200, OutputSerializer, 404, examples={400: [RANGE_NEEDS_BOTH_ENDS]}),
    )
    def get(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.query_params.dict())
        data.is_valid(raise_exception=True)
        tenant_id = str(data.validated_data.get("tenant") or "") or None
        if tenant_id:
            tenant_selectors.tenant_get(tenant_id=tenant_id)  # an unknown tenant is a 404
        report = _report(data.validated_data, tenant_id)
        body = {"tenantId": tenant_id, "report": report}
        return ok(request, self.OutputSerializer(body).data)
