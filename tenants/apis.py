"""The admin API (/api/v1/admin/) and /api/v1/me: one class per operation."""

from datetime import timedelta
from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from outpost_admin.actors import actor_from
from outpost_admin.api.authentication import IsStaffOrAdminKey, principal_of
from outpost_admin.api.envelope import ApiError, ok
from outpost_admin.api.schema import ERROR, responses
from outpost_admin.dynamo import iso, utcnow

from . import selectors, services
from .authentication import Principal
from .domain import ApiKey, IssuedKey, Scope, Tenant, TenantStatus, Tier

NO_STORE = {"Cache-Control": "no-store"}


def tenant_data(tenant: Tenant) -> dict[str, Any]:
    return {
        "tenantId": tenant.tenant_id,
        "name": tenant.name,
        "email": tenant.email,
        "tier": str(tenant.tier),
        "status": str(tenant.status),
        "usageLimits": tenant.limits.as_usage_limits(),
        "currentUsage": {"concurrentJobs": tenant.concurrent_jobs},
        "createdAt": iso(tenant.created_at),
        "updatedAt": iso(tenant.updated_at),
    }


def me_data(principal: Principal) -> dict[str, Any]:
    return {
        "tenantId": principal.tenant_id,
        "name": principal.tenant_name,
        "tier": str(principal.tier),
        "limits": principal.limits.as_usage_limits(),
        "key": {
            "id": principal.key.api_key_id,
            "prefix": principal.key.key_prefix,
            "scopes": [str(s) for s in principal.key.scopes],
        },
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


_LIMITS = inline_serializer(
    "UsageLimits",
    {
        "maxConcurrentJobs": serializers.IntegerField(),
        "maxJobsPerDay": serializers.IntegerField(),
        "maxJobTimeoutSeconds": serializers.IntegerField(),
    },
)
_TENANT = inline_serializer(
    "Tenant",
    {
        "tenantId": serializers.UUIDField(),
        "name": serializers.CharField(),
        "email": serializers.EmailField(),
        "tier": serializers.ChoiceField([t.value for t in Tier]),
        "status": serializers.ChoiceField([s.value for s in TenantStatus]),
        "usageLimits": _LIMITS,
        "currentUsage": inline_serializer(
            "CurrentUsage", {"concurrentJobs": serializers.IntegerField()}
        ),
        "createdAt": serializers.DateTimeField(),
        "updatedAt": serializers.DateTimeField(),
    },
)
_KEY_FIELDS: dict[str, Any] = {
    "id": serializers.UUIDField(),
    "name": serializers.CharField(),
    "prefix": serializers.CharField(),
    "status": serializers.ChoiceField(["active", "revoked", "expired"]),
    "scopes": serializers.ListField(child=serializers.ChoiceField([s.value for s in Scope])),
    "createdAt": serializers.DateTimeField(),
    "expiresAt": serializers.DateTimeField(allow_null=True),
    "lastUsedAt": serializers.DateTimeField(allow_null=True),
    "usageCount": serializers.IntegerField(),
}
_KEY = inline_serializer("ApiKey", _KEY_FIELDS)
_ISSUED = inline_serializer(
    "IssuedApiKey",
    {**_KEY_FIELDS, "key": serializers.CharField(help_text="The raw key. Shown this once only.")},
)
_KEY_LIST = inline_serializer("ApiKeyList", {"items": serializers.ListField(child=_KEY)})
_TENANT_PAGE = inline_serializer(
    "TenantPage",
    {
        "items": serializers.ListField(child=_TENANT),
        "cursor": serializers.CharField(allow_null=True),
    },
)
_PROVISIONED = inline_serializer("TenantProvisioned", {"tenant": _TENANT, "apiKey": _ISSUED})
_ROTATED = inline_serializer("ApiKeyRotated", {"previous": _KEY, "apiKey": _ISSUED})
_ME = inline_serializer(
    "Me",
    {
        "tenantId": serializers.UUIDField(),
        "name": serializers.CharField(),
        "tier": serializers.CharField(),
        "limits": _LIMITS,
        "key": inline_serializer(
            "MeKey",
            {
                "id": serializers.CharField(),
                "prefix": serializers.CharField(),
                "scopes": serializers.ListField(child=serializers.CharField()),
            },
        ),
    },
)


class AdminApi(APIView):
    permission_classes = [IsStaffOrAdminKey]


class MeApi(APIView):
    @extend_schema(
        operation_id="me",
        summary="The tenant and key behind the API key",
        responses=responses(200, "Me", _ME),
    )
    def get(self, request: Request) -> Response:
        principal = principal_of(request)
        if principal is None:
            raise ApiError("AUTHENTICATION_ERROR", "An API key is required.", status_code=401)
        return ok(request, me_data(principal))


class TenantListApi(AdminApi):
    class TenantFilterSerializer(serializers.Serializer):
        search = serializers.CharField(required=False, allow_blank=True, max_length=200)
        status = serializers.ChoiceField(choices=[s.value for s in TenantStatus], required=False)
        tier = serializers.ChoiceField(choices=[t.value for t in Tier], required=False)
        cursor = serializers.CharField(required=False, max_length=4000)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)

    @extend_schema(
        operation_id="admin_tenant_list",
        summary="List tenants",
        parameters=[TenantFilterSerializer],
        responses=responses(200, "TenantPage", _TENANT_PAGE),
    )
    def get(self, request: Request) -> Response:
        filters = self.TenantFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = selectors.tenant_list(**filters.validated_data)
        return ok(request, {"items": [tenant_data(t) for t in page.items], "cursor": page.cursor})


class TenantCreateApi(AdminApi):
    class TenantInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        email = serializers.EmailField(max_length=254)
        tier = serializers.ChoiceField(choices=[t.value for t in Tier], default=Tier.PRO.value)

    @extend_schema(
        operation_id="admin_tenant_create",
        summary="Provision a tenant and its first key (shown once)",
        request=TenantInputSerializer,
        responses={**responses(201, "TenantProvisioned", _PROVISIONED), 409: ERROR},
    )
    def post(self, request: Request) -> Response:
        data = self.TenantInputSerializer(data=request.data)
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
    class TenantPatchSerializer(serializers.Serializer):
        tier = serializers.ChoiceField(choices=[t.value for t in Tier], required=False)
        status = serializers.ChoiceField(
            choices=[TenantStatus.ACTIVE.value, TenantStatus.SUSPENDED.value], required=False
        )

    @extend_schema(
        operation_id="admin_tenant_get",
        summary="Get a tenant",
        responses=responses(200, "TenantDetail", _TENANT),
    )
    def get(self, request: Request, tenant_id: str) -> Response:
        return ok(request, tenant_data(selectors.tenant_get(tenant_id=tenant_id)))

    @extend_schema(
        operation_id="admin_tenant_update",
        summary="Change a tenant's tier or status",
        request=TenantPatchSerializer,
        responses={**responses(200, "TenantUpdated", _TENANT), 409: ERROR},
    )
    def patch(self, request: Request, tenant_id: str) -> Response:
        data = self.TenantPatchSerializer(data=request.data)
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
    class KeyInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        scopes = serializers.MultipleChoiceField(
            choices=[s.value for s in Scope], allow_empty=False
        )
        expiresAt = serializers.DateTimeField(required=False, allow_null=True)

    @extend_schema(
        operation_id="admin_key_list",
        summary="List a tenant's keys",
        responses=responses(200, "KeyList", _KEY_LIST),
    )
    def get(self, request: Request, tenant_id: str) -> Response:
        selectors.tenant_get(tenant_id=tenant_id)
        keys = selectors.key_list(tenant_id=tenant_id)
        return ok(request, {"items": [key_data(k) for k in keys]})

    @extend_schema(
        operation_id="admin_key_create",
        summary="Create a key (shown once)",
        request=KeyInputSerializer,
        responses={**responses(201, "KeyIssued", _ISSUED), 409: ERROR},
    )
    def post(self, request: Request, tenant_id: str) -> Response:
        data = self.KeyInputSerializer(data=request.data)
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
    @extend_schema(
        operation_id="admin_key_revoke",
        summary="Revoke a key",
        request=None,
        responses={**responses(200, "KeyRevoked", _KEY), 409: ERROR},
    )
    def post(self, request: Request, tenant_id: str, key_id: str) -> Response:
        try:
            key = services.key_revoke(
                tenant_id=tenant_id, api_key_id=key_id, actor=actor_from(request)
            )
        except services.ServiceError as exc:
            raise ApiError("CONFLICT", str(exc), status_code=409) from exc
        return ok(request, key_data(key))


class KeyRotateApi(AdminApi):
    class KeyRotateSerializer(serializers.Serializer):
        graceHours = serializers.IntegerField(min_value=0, max_value=720, default=24)

    @extend_schema(
        operation_id="admin_key_rotate",
        summary="Rotate a key: a new key now, the old one until the grace ends",
        request=KeyRotateSerializer,
        responses={**responses(201, "KeyRotated", _ROTATED), 409: ERROR},
    )
    def post(self, request: Request, tenant_id: str, key_id: str) -> Response:
        data = self.KeyRotateSerializer(data=request.data)
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
