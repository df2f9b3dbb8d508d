"""Budgets over the API (issue 16, point 3): staff (or an operator key) set any tenant's and
key's under /api/v1/admin/; a tenant's own `admin` key reads its tenant's and lowers its
keys' under /api/v1/budget. Amounts are whole cents, as Stripe states amounts."""

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from outpost_admin.actors import actor_from
from outpost_admin.api.envelope import ApiError, ok
from outpost_admin.api.fields import IsoDateTimeField, StrictIntegerField
from outpost_admin.api.schema import error_example, responses
from outpost_admin.dynamo import utcnow
from tenants.api_authentication import IsStaffOrOperatorKey, principal_of, scope_permission

from . import budgets, selectors, services
from .domain import Scope

CENT = budgets.MICROS // 100


class IsTenantKey(BasePermission):
    message = "An API key is required."

    def has_permission(self, request: Request, view: Any) -> bool:
        return principal_of(request) is not None


MAX_CENTS = services.BUDGET_MAX // CENT
RENAMED = {"hard": "hardCents", "soft": "softCents"}


class BudgetView:
    """A budget as the API shows it (micro-USD turned into cents and dollars)."""

    def __init__(self, budget: budgets.Budget):
        self.budget = budget
        self.key_id = budget.api_key_id or None
        self.hard_cents = None if budget.hard is None else budget.hard // CENT
        self.soft_cents = None if budget.soft is None else budget.soft // CENT
        self.spent_usd = budget.spent / budgets.MICROS
        self.month = budget.month
        self.over = budget.over
        self.alerted = [level for level in budgets.LEVELS if level in budget.alerted]
        self.resets_at = budgets.resets_at(utcnow())


@extend_schema_serializer(component_name="Budget")
class BudgetSerializer(serializers.Serializer):
    keyId = serializers.UUIDField(
        source="key_id", allow_null=True, help_text="The key's budget; null: the tenant's."
    )
    hardCents = serializers.IntegerField(
        source="hard_cents",
        allow_null=True,
        help_text="The monthly hard budget in US cents: creates are refused (429 "
        "BUDGET_EXCEEDED) once this month's recorded spend reaches it. Null: none.",
    )
    softCents = serializers.IntegerField(
        source="soft_cents",
        allow_null=True,
        help_text="The soft threshold in US cents: crossing it e-mails the tenant's users "
        "once a month and shows a banner. Null: none.",
    )
    spentUsd = serializers.FloatField(
        source="spent_usd", help_text="This month's recorded spend, to the microdollar."
    )
    month = serializers.CharField(help_text="The month counted (UTC), YYYY-MM.")
    over = serializers.BooleanField(help_text="At or over the hard budget.")
    alerted = serializers.ListField(
        child=serializers.ChoiceField(list(budgets.LEVELS)),
        help_text="The alerts mailed this month: soft, p90 (90 %), p100 (100 %).",
    )
    resetsAt = IsoDateTimeField(source="resets_at", help_text="When the month's count ends.")


@extend_schema_serializer(component_name="Budgets")
class BudgetsSerializer(serializers.Serializer):
    tenant = BudgetSerializer()
    keys = BudgetSerializer(many=True, help_text="The keys that have a budget or spend.")


@extend_schema_serializer(component_name="BudgetInput")
class BudgetInputSerializer(serializers.Serializer):
    hardCents = StrictIntegerField(
        min_value=0, max_value=MAX_CENTS, allow_null=True, help_text="Null: no hard budget."
    )
    softCents = StrictIntegerField(
        min_value=0,
        max_value=MAX_CENTS,
        allow_null=True,
        help_text="Null: no soft threshold. Not above hardCents.",
    )

    def micros(self) -> dict[str, int | None]:
        data = self.validated_data
        data.setdefault("softCents", None)
        return {
            name: None if data[field] is None else data[field] * CENT
            for name, field in (("hard", "hardCents"), ("soft", "softCents"))
        }


SOFT_ABOVE_HARD = error_example(
    "SoftAboveHard",
    "The soft threshold is above the hard budget",
    "VALIDATION_ERROR",
    "The soft threshold must not be above the hard budget.",
    {"softCents": ["The soft threshold must not be above the hard budget."]},
)
ONLY_LOWER = error_example(
    "OnlyLower",
    "An admin key tried to raise a key's budget (above the key's now, or the tenant's)",
    "CONFLICT",
    "An admin key can only lower it: at most the key's budget now.",
    {"hardCents": ["An admin key can only lower it: at most the key's budget now."]},
)


@extend_schema_serializer(component_name="BudgetLowerInput")
class BudgetLowerInputSerializer(BudgetInputSerializer):
    hardCents = StrictIntegerField(
        min_value=0,
        max_value=MAX_CENTS,
        help_text="At most the key's hard budget now and the tenant's (else a 409).",
    )
    softCents = StrictIntegerField(
        min_value=0,
        max_value=MAX_CENTS,
        allow_null=True,
        required=False,
        help_text="Null or absent: no soft threshold. Not above hardCents.",
    )


def _set(request: Request, tenant_id: str, key_id: str = "", lower_only: bool = False) -> Response:
    data = (BudgetLowerInputSerializer if lower_only else BudgetInputSerializer)(data=request.data)
    data.is_valid(raise_exception=True)
    amounts = data.micros()
    try:
        budget = services.budget_set(
            tenant_id=tenant_id,
            api_key_id=key_id,
            hard=amounts["hard"],
            soft=amounts["soft"],
            actor=actor_from(request),
            lower_only=lower_only,
        )
    except services.ServiceError as exc:
        field = RENAMED.get(exc.field or "", "non_field_errors")
        details = {field: [str(exc)]}
        # Refused by the budgets as they stand (a lower-only change that would raise one),
        # not by the input: a 409, like every rule of the current state. Values each well
        # formed but impossible together (a soft threshold above the hard budget): a 422.
        code, status = ("CONFLICT", 409) if exc.state else ("VALIDATION_ERROR", 400)
        if exc.contradiction:
            status = 422
        raise ApiError(code, str(exc), status_code=status, details=details) from exc
    return ok(request, BudgetSerializer(BudgetView(budget)).data)


def _all(tenant_id: str) -> dict[str, Any]:
    tenant = selectors.budget_get(tenant_id=tenant_id)
    keys = selectors.key_budgets(tenant_id=tenant_id)
    return {"tenant": BudgetView(tenant), "keys": [BudgetView(k) for k in keys]}


class AdminBudgetApi(APIView):
    permission_classes = [IsStaffOrOperatorKey]

    @extend_schema(
        operation_id="admin_budget_get",
        summary="A tenant's budget and its keys' budgets, with this month's spend",
        responses=responses(200, BudgetsSerializer, 404),
    )
    def get(self, request: Request, tenant_id: str) -> Response:
        selectors.tenant_get(tenant_id=tenant_id)
        return ok(request, BudgetsSerializer(_all(tenant_id)).data)

    @extend_schema(
        operation_id="admin_budget_set",
        summary="Set a tenant's monthly hard budget and soft threshold",
        request=BudgetInputSerializer,
        responses=responses(
            200, BudgetSerializer, 404, 413, 415, 422, examples={422: [SOFT_ABOVE_HARD]}
        ),
        description="This month's spend is kept: a budget lowered below it refuses the next "
        "create, one raised above it lets creates through again. Audited.",
    )
    def put(self, request: Request, tenant_id: str) -> Response:
        return _set(request, tenant_id)


class AdminKeyBudgetApi(APIView):
    permission_classes = [IsStaffOrOperatorKey]

    @extend_schema(
        operation_id="admin_key_budget_set",
        summary="Set one key's monthly hard budget and soft threshold",
        request=BudgetInputSerializer,
        responses=responses(
            200, BudgetSerializer, 404, 413, 415, 422, examples={422: [SOFT_ABOVE_HARD]}
        ),
        description="Another tenant's key is a 404. Audited.",
    )
    def put(self, request: Request, tenant_id: str, key_id: str) -> Response:
        return _set(request, tenant_id, key_id)


class OwnBudgetApi(APIView):
    """Any key of the tenant reads them: a caller refused for its budget can see why."""

    permission_classes = [IsTenantKey]

    @extend_schema(
        operation_id="budget_get",
        summary="Your tenant's budget and its keys' budgets, with this month's spend",
        responses=responses(200, BudgetsSerializer),
    )
    def get(self, request: Request) -> Response:
        principal = principal_of(request)
        assert principal is not None  # the scope permission has checked it
        return ok(request, BudgetsSerializer(_all(principal.tenant_id)).data)


class OwnKeyBudgetApi(APIView):
    permission_classes = [scope_permission(Scope.ADMIN)]

    @extend_schema(
        operation_id="key_budget_lower",
        summary="Lower one of your tenant's keys' budgets (an admin key)",
        request=BudgetLowerInputSerializer,
        responses=responses(
            200,
            BudgetSerializer,
            404,
            409,
            413,
            415,
            422,
            examples={422: [SOFT_ABOVE_HARD], 409: [ONLY_LOWER]},
        ),
        description="The hard budget may only go down, and never above the tenant's: staff "
        "raise it. Another tenant's key is a 404. Audited.",
    )
    def put(self, request: Request, key_id: str) -> Response:
        principal = principal_of(request)
        assert principal is not None
        return _set(request, principal.tenant_id, key_id, lower_only=True)
