"""The admin API (/api/v1/admin/) and /api/v1/me: one class per operation."""

from datetime import timedelta
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from outpost_admin.actors import actor_from
from outpost_admin.api.authentication import IsStaffOrAdminKey, principal_of
from outpost_admin.api.envelope import ApiError, ok
from outpost_admin.dynamo import iso, utcnow

from . import selectors, services
from .authentication import describe
from .domain import ApiKey, IssuedKey, Scope, Tenant, TenantStatus, Tier

NO_STORE = {"Cache-Control": "no-store"}


def tenant_data(tenant: Tenant) -> dict[str, Any]:
    return {
        "tenantId": tenant.tenant_id,
        "name": tenant.name,
        "email": tenant.email,
        "tier": str(tenant.tier),
        "status": str(tenant.status),
        "usageLimits": {
            "maxConcurrentJobs": tenant.limits.max_concurrent_jobs,
            "maxJobsPerDay": tenant.limits.max_jobs_per_day,
            "maxJobTimeoutSeconds": tenant.limits.max_job_timeout_seconds,
        },
        "currentUsage": {"concurrentJobs": tenant.concurrent_jobs},
        "createdAt": iso(tenant.created_at),
        "updatedAt": iso(tenant.updated_at),
    }


def key_data(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.api_key_id,
        "name": key.name,
        "prefix": key.key_prefix,
        "status": str(key.effective_status(utcnow())),
        "scopes": [str(s) for s in key.scopes],
        "createdAt": iso(key.created_at),
        "expiresAt": iso(key.expires_at) if key.expires_at else None,
        "lastUsedAt": iso(key.last_used_at) if key.last_used_at else None,
        "usageCount": key.usage_count,
    }


def issued_data(issued: IssuedKey) -> dict[str, Any]:
    return {**key_data(issued.key), "key": issued.raw}


def _raise_service_error(exc: services.ServiceError, renamed: dict[str, str] | None = None) -> None:
    """A refused rule as a 400 naming the field as the API spells it (`renamed` maps them)."""
    field = (renamed or {}).get(exc.field or "", exc.field) or "non_field_errors"
    raise ApiError("VALIDATION_ERROR", str(exc), status_code=400, details={field: [str(exc)]})


class AdminApi(APIView):
    permission_classes = [IsStaffOrAdminKey]


class MeApi(APIView):
    @extend_schema(summary="The tenant and key behind the API key", responses={200: dict})
    def get(self, request: Request) -> Response:
        principal = principal_of(request)
        if principal is None:
            raise ApiError("AUTHENTICATION_ERROR", "An API key is required.", status_code=401)
        return ok(request, describe(principal))


class TenantListApi(AdminApi):
    class FilterSerializer(serializers.Serializer):
        search = serializers.CharField(required=False, allow_blank=True, max_length=200)
        status = serializers.ChoiceField(choices=[s.value for s in TenantStatus], required=False)
        tier = serializers.ChoiceField(choices=[t.value for t in Tier], required=False)
        cursor = serializers.CharField(required=False, max_length=4000)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)

    @extend_schema(summary="List tenants", parameters=[FilterSerializer])
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = selectors.tenant_list(**filters.validated_data)
        return ok(request, {"items": [tenant_data(t) for t in page.items], "cursor": page.cursor})


class TenantCreateApi(AdminApi):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        email = serializers.EmailField(max_length=254)
        tier = serializers.ChoiceField(choices=[t.value for t in Tier], default=Tier.PRO.value)

    @extend_schema(
        summary="Provision a tenant and its first key (shown once)", request=InputSerializer
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
        except services.ServiceError as exc:
            _raise_service_error(exc)
        body = {"tenant": tenant_data(tenant), "apiKey": issued_data(issued)}
        return ok(request, body, status_code=201, headers=NO_STORE)


class TenantCollectionApi(TenantListApi, TenantCreateApi):
    """GET lists, POST provisions: one URL, two operations."""


class TenantDetailApi(AdminApi):
    class PatchSerializer(serializers.Serializer):
        tier = serializers.ChoiceField(choices=[t.value for t in Tier], required=False)
        status = serializers.ChoiceField(
            choices=[TenantStatus.ACTIVE.value, TenantStatus.SUSPENDED.value], required=False
        )

    @extend_schema(summary="Get a tenant")
    def get(self, request: Request, tenant_id: str) -> Response:
        return ok(request, tenant_data(selectors.tenant_get(tenant_id=tenant_id)))

    @extend_schema(summary="Change a tenant's tier or status", request=PatchSerializer)
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
                    tenant_id=tenant_id, status=TenantStatus(status), actor=actor
                )
        except services.ServiceError as exc:
            _raise_service_error(exc)
        return ok(request, tenant_data(tenant))


class KeyCollectionApi(AdminApi):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        scopes = serializers.MultipleChoiceField(
            choices=[s.value for s in Scope], allow_empty=False
        )
        expiresAt = serializers.DateTimeField(required=False, allow_null=True)

    @extend_schema(summary="List a tenant's keys")
    def get(self, request: Request, tenant_id: str) -> Response:
        selectors.tenant_get(tenant_id=tenant_id)
        keys = selectors.key_list(tenant_id=tenant_id)
        return ok(request, {"items": [key_data(k) for k in keys]})

    @extend_schema(summary="Create a key (shown once)", request=InputSerializer)
    def post(self, request: Request, tenant_id: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            issued = services.key_create(
                tenant_id=tenant_id,
                name=data.validated_data["name"],
                scopes=tuple(Scope(s) for s in sorted(data.validated_data["scopes"])),
                expires_at=data.validated_data.get("expiresAt"),
                actor=actor_from(request),
            )
        except services.ServiceError as exc:
            _raise_service_error(exc, renamed={"expires_at": "expiresAt"})
        return ok(request, issued_data(issued), status_code=201, headers=NO_STORE)


class KeyRevokeApi(AdminApi):
    @extend_schema(summary="Revoke a key", request=None)
    def post(self, request: Request, tenant_id: str, key_id: str) -> Response:
        try:
            key = services.key_revoke(
                tenant_id=tenant_id, api_key_id=key_id, actor=actor_from(request)
            )
        except services.ServiceError as exc:
            raise ApiError("CONFLICT", str(exc), status_code=409) from exc
        return ok(request, key_data(key))


class KeyRotateApi(AdminApi):
    class InputSerializer(serializers.Serializer):
        graceHours = serializers.IntegerField(min_value=0, max_value=720, default=24)

    @extend_schema(
        summary="Rotate a key: a new key now, the old one until the grace ends",
        request=InputSerializer,
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
            raise ApiError("CONFLICT", str(exc), status_code=409) from exc
        body = {"previous": key_data(old), "apiKey": issued_data(issued)}
        return ok(request, body, status_code=201, headers=NO_STORE)
