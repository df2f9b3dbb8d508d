"""The admin API (/api/v1/admin/) and /api/v1/me: one class per operation."""

from datetime import timedelta
from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from outpost_admin.actors import actor_from
from outpost_admin.api.envelope import ApiError, ok, represent
from outpost_admin.api.fields import (
    IsoDateTimeField,
    OneLineField,
    PatternField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
)
from outpost_admin.api.schema import BAD_CURSOR, CURSOR_HELP, responses
from outpost_admin.dynamo import utcnow
from tenants.api_authentication import IsStaffOrOperatorKey, principal_of

from . import selectors, services
from .domain import IssuedKey, KeyStatus, Scope, TenantStatus, Tier

NO_STORE = {"Cache-Control": "no-store"}
STATUS_CHANGES = [TenantStatus.ACTIVE.value, TenantStatus.SUSPENDED.value]
KEY_STATUSES = [s.value for s in KeyStatus]


@extend_schema_serializer(component_name="UsageLimits")
class LimitsSerializer(serializers.Serializer):
    maxConcurrentJobs = serializers.IntegerField(source="max_concurrent_jobs")
    maxJobsPerDay = serializers.IntegerField(source="max_jobs_per_day")
    maxJobTimeoutSeconds = serializers.IntegerField(source="max_job_timeout_seconds")


@extend_schema_serializer(component_name="CurrentUsage")
class CurrentUsageSerializer(serializers.Serializer):
    concurrentJobs = serializers.IntegerField(source="concurrent_jobs")


@extend_schema_serializer(component_name="Tenant")
class TenantSerializer(serializers.Serializer):
    tenantId = serializers.UUIDField(source="tenant_id")
    name = serializers.CharField()
    email = serializers.EmailField()
    tier = serializers.ChoiceField([t.value for t in Tier])
    status = serializers.ChoiceField([s.value for s in TenantStatus])
    usageLimits = LimitsSerializer(source="limits")
    currentUsage = CurrentUsageSerializer(source="*")
    createdAt = IsoDateTimeField(source="created_at")
    updatedAt = IsoDateTimeField(source="updated_at")


class KeyStatusField(serializers.ChoiceField):
    """What a key is now: an active key past its expiry is expired."""

    def __init__(self) -> None:
        super().__init__(KEY_STATUSES, source="*")

    def to_representation(self, key: Any) -> str:
        return str(key.effective_status(utcnow()))


@extend_schema_serializer(component_name="ApiKey")
class KeySerializer(serializers.Serializer):
    id = serializers.UUIDField(source="api_key_id")
    name = serializers.CharField()
    prefix = serializers.CharField(source="key_prefix")
    status = KeyStatusField()
    suspendedWithTenant = serializers.BooleanField(
        source="suspended_with_tenant",
        help_text="Its tenant's suspension revoked it; reactivation gives it back.",
    )
    scopes = serializers.ListField(child=serializers.ChoiceField([s.value for s in Scope]))
    createdAt = IsoDateTimeField(source="created_at")
    expiresAt = IsoDateTimeField(source="expires_at", allow_null=True)
    lastUsedAt = IsoDateTimeField(source="last_used_at", allow_null=True)
    usageCount = serializers.IntegerField(source="usage_count")


@extend_schema_serializer(component_name="IssuedApiKey")
class IssuedKeySerializer(KeySerializer):
    """A key as issued: the key's fields and, this once only, the raw key."""

    key = serializers.CharField(source="raw", help_text="The raw key. Shown this once only.")

    def to_representation(self, issued: IssuedKey) -> dict[str, Any]:
        return {**KeySerializer(issued.key).data, "key": issued.raw}


@extend_schema_serializer(component_name="ApiKeyList")
class KeyListSerializer(serializers.Serializer):
    items = KeySerializer(many=True)


@extend_schema_serializer(component_name="TenantPage")
class TenantPageSerializer(serializers.Serializer):
    items = TenantSerializer(many=True)
    cursor = serializers.CharField(
        allow_null=True, help_text="Pass it back as `cursor` for the next page; null at the end."
    )


@extend_schema_serializer(component_name="TenantProvisioned")
class ProvisionedSerializer(serializers.Serializer):
    tenant = TenantSerializer()
    apiKey = IssuedKeySerializer()


@extend_schema_serializer(component_name="ApiKeyRotated")
class RotatedSerializer(serializers.Serializer):
    previous = KeySerializer()
    apiKey = IssuedKeySerializer()


@extend_schema_serializer(component_name="MeKey")
class MeKeySerializer(serializers.Serializer):
    id = serializers.CharField(source="api_key_id")
    prefix = serializers.CharField(source="key_prefix")
    scopes = serializers.ListField(child=serializers.ChoiceField([s.value for s in Scope]))


@extend_schema_serializer(component_name="Me")
class MeSerializer(serializers.Serializer):
    tenantId = serializers.UUIDField(source="tenant_id")
    name = serializers.CharField(source="tenant_name")
    tier = serializers.ChoiceField([t.value for t in Tier])
    limits = LimitsSerializer()
    key = MeKeySerializer()


def _raise_service_error(exc: services.ServiceError, renamed: dict[str, str] | None = None) -> None:
    """A refused rule as a 400 naming the field as the API spells it (`renamed` maps them)."""
    field = (renamed or {}).get(exc.field or "", exc.field) or "non_field_errors"
    raise ApiError("VALIDATION_ERROR", str(exc), status_code=400, details={field: [str(exc)]})


def _conflict(exc: services.ServiceError) -> ApiError:
    """A rule the current state refuses (not the input): a 409, naming the field if any."""
    details = {exc.field: [str(exc)]} if exc.field else {}
    return ApiError("CONFLICT", str(exc), status_code=409, details=details)


class AdminApi(APIView):
    permission_classes = [IsStaffOrOperatorKey]


class MeApi(APIView):
    @extend_schema(
        operation_id="me",
        summary="The tenant and key behind the API key",
        responses=responses(200, MeSerializer),
    )
    def get(self, request: Request) -> Response:
        principal = principal_of(request)
        if principal is None:
            raise ApiError("AUTHENTICATION_ERROR", "An API key is required.", status_code=401)
        return ok(request, represent(MeSerializer, principal))


class TenantListApi(AdminApi):
    class FilterSerializer(serializers.Serializer):
        # Blank is allowed apart from the pattern (the schema's second oneOf branch): a pattern
        # matching "" too would make both branches match it, which oneOf refuses.
        search = PatternField(
            r"^[^\x00-\x1f\x7f]{1,200}$",
            required=False,
            allow_blank=True,
            max_length=200,
            help_text="A name prefix (no control characters).",
        )
        status = serializers.ChoiceField(choices=[s.value for s in TenantStatus], required=False)
        tier = serializers.ChoiceField(choices=[t.value for t in Tier], required=False)
        cursor = PatternField(r"^[A-Za-z0-9_.:-]{1,1000}$", required=False, help_text=CURSOR_HELP)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)

    @extend_schema(
        operation_id="admin_tenant_list",
        summary="List tenants",
        parameters=[FilterSerializer],
        responses=responses(200, TenantPageSerializer, examples={400: [BAD_CURSOR]}),
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        page = selectors.tenant_list_whole(**filters.validated_data)
        return ok(request, TenantPageSerializer(page).data)


class TenantCreateApi(AdminApi):
    @extend_schema_serializer(component_name="TenantInput")
    class InputSerializer(serializers.Serializer):
        name = OneLineField(max_length=200)
        email = serializers.EmailField(max_length=254)
        tier = StrictChoiceField(choices=[t.value for t in Tier], default=Tier.PRO.value)

    @extend_schema(
        operation_id="admin_tenant_create",
        summary="Provision a tenant and its first key (shown once)",
        request=InputSerializer,
        responses=responses(201, ProvisionedSerializer, 409, 413, 415),
        description="A tenant with the same e-mail (in any case) is a 409.",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            tenant, issued = services.tenant_provision(
                name=data.validated_data["name"],
                email=data.validated_data["email"],
                tier=Tier(data.validated_data["tier"]),
                actor=actor_from(request),
            )
        except services.ServiceError as exc:  # the e-mail is taken
            raise _conflict(exc) from exc
        body = ProvisionedSerializer({"tenant": tenant, "apiKey": issued}).data
        return ok(request, body, status_code=201, headers=NO_STORE)


class TenantCollectionApi(TenantListApi, TenantCreateApi):
    """GET lists, POST provisions: one URL, two operations."""


class TenantDetailApi(AdminApi):
    @extend_schema_serializer(component_name="TenantPatch")
    class PatchSerializer(serializers.Serializer):
        tier = StrictChoiceField(choices=[t.value for t in Tier], required=False)
        status = StrictChoiceField(choices=STATUS_CHANGES, required=False)
        reason = StrictCharField(
            max_length=500,
            required=False,
            allow_blank=True,
            help_text="Why the tenant is suspended: its users read it with the date, and the "
            "audit record keeps it.",
        )

    @extend_schema(
        operation_id="admin_tenant_get",
        summary="Get a tenant",
        responses=responses(200, TenantSerializer, 404),
    )
    def get(self, request: Request, tenant_id: str) -> Response:
        return ok(request, TenantSerializer(selectors.tenant_get(tenant_id=tenant_id)).data)

    @extend_schema(
        operation_id="admin_tenant_update",
        summary="Change a tenant's tier or status",
        request=PatchSerializer,
        responses=responses(200, TenantSerializer, 404, 409, 413, 415),
    )
    def patch(self, request: Request, tenant_id: str) -> Response:
        data = self.PatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tenant = selectors.tenant_get(tenant_id=tenant_id)
        actor = actor_from(request)
        try:
            if "tier" in data.validated_data:
                tier = Tier(data.validated_data["tier"])
                tenant = services.tenant_change_tier(tenant_id=tenant_id, tier=tier, actor=actor)
            status = data.validated_data.get("status")
            if status and status != tenant.status:
                tenant = services.tenant_set_status(
                    tenant_id=tenant_id,
                    status=TenantStatus(status),
                    actor=actor,
                    reason=data.validated_data.get("reason", ""),
                )
        except services.ServiceError as exc:
            raise _conflict(exc) from exc
        return ok(request, TenantSerializer(tenant).data)


class KeyCollectionApi(AdminApi):
    @extend_schema_serializer(component_name="KeyInput")
    class InputSerializer(serializers.Serializer):
        name = OneLineField(max_length=100)
        scopes = serializers.ListField(
            child=StrictChoiceField(choices=[s.value for s in Scope]),
            min_length=1,
            max_length=len(Scope),
        )
        expiresAt = IsoDateTimeField(
            required=False, allow_null=True, help_text="In the future; null or absent: never."
        )

    @extend_schema(
        operation_id="admin_key_list",
        summary="List a tenant's keys",
        responses=responses(200, KeyListSerializer, 404),
    )
    def get(self, request: Request, tenant_id: str) -> Response:
        selectors.tenant_get(tenant_id=tenant_id)
        keys = selectors.key_list(tenant_id=tenant_id)
        return ok(request, KeyListSerializer({"items": keys}).data)

    @extend_schema(
        operation_id="admin_key_create",
        summary="Create a key (shown once)",
        request=InputSerializer,
        responses=responses(201, IssuedKeySerializer, 404, 409, 413, 415),
        description="A tenant already holding its maximum of active keys is a 409.",
    )
    def post(self, request: Request, tenant_id: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            issued = services.key_create(
                tenant_id=tenant_id,
                name=data.validated_data["name"],
                scopes=tuple(Scope(s) for s in sorted(set(data.validated_data["scopes"]))),
                expires_at=data.validated_data.get("expiresAt"),
                actor=actor_from(request),
                by_staff=principal_of(request) is None and request.user.is_staff,
            )
        except services.ServiceError as exc:
            if exc.field:  # the expiry is not in the future, or operator asked for by a key
                _raise_service_error(exc, renamed={"expires_at": "expiresAt"})
            raise _conflict(exc) from exc
        return ok(request, IssuedKeySerializer(issued).data, status_code=201, headers=NO_STORE)


class KeyRevokeApi(AdminApi):
    @extend_schema(
        operation_id="admin_key_revoke",
        summary="Revoke a key",
        request=None,
        responses=responses(200, KeySerializer, 404, 409),
    )
    def post(self, request: Request, tenant_id: str, key_id: str) -> Response:
        try:
            key = services.key_revoke(
                tenant_id=tenant_id, api_key_id=key_id, actor=actor_from(request)
            )
        except services.ServiceError as exc:
            raise _conflict(exc) from exc
        return ok(request, KeySerializer(key).data)


class KeyRotateApi(AdminApi):
    @extend_schema_serializer(component_name="KeyRotateInput")
    class InputSerializer(serializers.Serializer):
        graceHours = StrictIntegerField(min_value=0, max_value=720, default=24)

    @extend_schema(
        operation_id="admin_key_rotate",
        summary="Rotate a key: a new key now, the old one until the grace ends",
        request=InputSerializer,
        responses=responses(201, RotatedSerializer, 404, 409, 413, 415),
    )
    def post(self, request: Request, tenant_id: str, key_id: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            old, issued = services.key_rotate(
                tenant_id=tenant_id,
                api_key_id=key_id,
                grace=timedelta(hours=data.validated_data["graceHours"]),
                actor=actor_from(request),
            )
        except services.ServiceError as exc:
            raise _conflict(exc) from exc
        body = RotatedSerializer({"previous": old, "apiKey": issued}).data
        return ok(request, body, status_code=201, headers=NO_STORE)
