"""/api/v1/webhooks: a tenant's endpoints, their deliveries, replay, failure e-mails. One class
per operation; the `webhooks` scope (or `admin`), and the tenant is the key's; or, for any
tenant named by `?tenant=`, a staff session or a key with the `operator` scope."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from outpost_admin.actors import actor_from
from outpost_admin.api.envelope import ApiError, ok, represent
from outpost_admin.api.fields import (
    IsoDateTimeField,
    PatternField,
    StrictBooleanField,
    StrictCharField,
)
from outpost_admin.api.schema import BAD_CURSOR, CURSOR_HELP, error_example, responses
from outpost_admin.dynamo import NotFound
from outpost_admin.webhook_urls import URL_MAX, WEBHOOK_URL
from tenants import selectors as tenant_selectors
from tenants.api_authentication import IsStaffOrOperatorKey, principal_of, scope_permission
from tenants.domain import Scope

from . import selectors, services
from .domain import DELIVERY_STATUSES, EVENT_NAMES, MAX_ENDPOINTS, EndpointLimit, WebhookError

NO_STORE = {"Cache-Control": "no-store"}
PERMISSIONS = [scope_permission(Scope.WEBHOOKS) | IsStaffOrOperatorKey]
TENANT = OpenApiParameter(
    "tenant",
    OpenApiTypes.UUID,
    description="Staff and `operator` keys: the tenant acted for (required for staff). A "
    "tenant's own key may name only its own tenant.",
)


def _tenant(request: Request) -> str:
    """The key's own tenant; or the one `?tenant=` names, for staff and operator keys. A
    `tenant` that is not a UUID is a 400; one that does not exist, or is not the key's to
    act for, a 404."""
    principal = principal_of(request)
    named = request.query_params.get("tenant")
    if named is not None and not _UUID.fullmatch(named):
        raise serializers.ValidationError({"tenant": ["Must be a tenant id (a UUID)."]})
    if principal is not None and named in (None, principal.tenant_id):
        return principal.tenant_id
    if principal is not None and not principal.allows(Scope.OPERATOR):
        raise NotFound(f"tenant {named}")
    if named is None:
        raise serializers.ValidationError({"tenant": ["Name the tenant to act for."]})
    return tenant_selectors.tenant_get(tenant_id=named).tenant_id


TOO_MANY = error_example(
    "too_many_endpoints",
    f"The tenant has {MAX_ENDPOINTS} endpoints already",
    "CONFLICT",
    f"A tenant has at most {MAX_ENDPOINTS} endpoints.",
    {"url": [f"A tenant has at most {MAX_ENDPOINTS} endpoints."]},
)

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@contextmanager
def _field_errors() -> Iterator[None]:
    """A refused change is a 400 naming the field at fault (409 when the state refuses it)."""
    try:
        yield
    except EndpointLimit as exc:
        details = {exc.field: [str(exc)]}
        raise ApiError("CONFLICT", str(exc), status_code=409, details=details) from exc
    except WebhookError as exc:
        raise serializers.ValidationError({exc.field or "nonFieldErrors": [str(exc)]}) from exc


# --- shapes -------------------------------------------------------------------------------


@extend_schema_serializer(component_name="WebhookEndpoint")
class EndpointSerializer(serializers.Serializer):
    endpointId = serializers.CharField(source="endpoint_id")
    url = serializers.CharField()
    description = serializers.CharField()
    events = serializers.ListField(child=serializers.ChoiceField(list(EVENT_NAMES)))
    enabled = serializers.BooleanField()
    disabledReason = serializers.CharField(source="disabled_reason")
    failingSince = IsoDateTimeField(source="failing_since", allow_null=True)
    createdAt = IsoDateTimeField(source="created_at")
    updatedAt = IsoDateTimeField(source="updated_at")


@extend_schema_serializer(component_name="WebhookEndpointList")
class EndpointListSerializer(serializers.Serializer):
    items = EndpointSerializer(many=True)


@extend_schema_serializer(component_name="WebhookEndpointCreated")
class EndpointCreatedSerializer(EndpointSerializer):
    secret = serializers.CharField(
        help_text="whsec_<base64>: shown in this answer only. Verify deliveries with it."
    )


@extend_schema_serializer(component_name="WebhookSecret")
class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="Shown in this answer only.")
    previousValidUntil = IsoDateTimeField(allow_null=True)


@extend_schema_serializer(component_name="WebhookDelivery")
class DeliverySerializer(serializers.Serializer):
    eventId = serializers.CharField(source="event_id", help_text="The webhook-id header.")
    eventType = serializers.CharField(source="event_type")
    dispatchId = serializers.CharField(source="dispatch_id")
    status = serializers.ChoiceField(DELIVERY_STATUSES)
    attempts = serializers.IntegerField()
    lastStatusCode = serializers.IntegerField(source="last_status_code", allow_null=True)
    lastError = serializers.CharField(source="last_error")
    lastAttemptAt = IsoDateTimeField(source="last_attempt_at", allow_null=True)
    nextAttemptAt = IsoDateTimeField(source="next_attempt_at", allow_null=True)
    createdAt = IsoDateTimeField(source="created_at")


@extend_schema_serializer(component_name="WebhookAttempt")
class AttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    at = IsoDateTimeField()
    statusCode = serializers.IntegerField(source="status_code", allow_null=True)
    latencyMs = serializers.IntegerField(source="latency_ms")
    ok = serializers.BooleanField()
    error = serializers.CharField()
    responseExcerpt = serializers.CharField(source="excerpt", help_text="At most 1 KB.")


@extend_schema_serializer(component_name="WebhookDeliveryDetail")
class DeliveryDetailSerializer(DeliverySerializer):
    attemptList = AttemptSerializer(many=True, source="attempt_list")


@extend_schema_serializer(component_name="WebhookDeliveryPage")
class DeliveryPageSerializer(serializers.Serializer):
    items = DeliverySerializer(many=True)
    cursor = serializers.CharField(allow_null=True, help_text=CURSOR_HELP)


@extend_schema_serializer(component_name="WebhookNotifications")
class NotifySerializer(serializers.Serializer):
    onFailure = StrictBooleanField(
        source="on_failure",
        help_text="E-mail the tenant's users when a dispatch fails or times out.",
    )
    streak = serializers.IntegerField(
        min_value=0, max_value=100, help_text="Also when this many fail in a row (0: off)."
    )
    cooldownMinutes = serializers.IntegerField(
        min_value=1, max_value=10080, help_text="At most one message per this many minutes."
    )


@extend_schema_serializer(component_name="WebhookRecovered")
class RecoveredSerializer(serializers.Serializer):
    deliveries = serializers.IntegerField(help_text="Failed deliveries queued again.")


class EndpointInput(serializers.Serializer):
    url = PatternField(
        WEBHOOK_URL, max_length=URL_MAX, help_text="https (http only in development)."
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(list(EVENT_NAMES)), min_length=1, max_length=5
    )
    description = StrictCharField(required=False, allow_blank=True, max_length=500, default="")
    enabled = StrictBooleanField(required=False)


class EndpointPatch(EndpointInput):
    url = PatternField(WEBHOOK_URL, max_length=URL_MAX, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(list(EVENT_NAMES)), min_length=1, max_length=5, required=False
    )
    description = StrictCharField(required=False, allow_blank=True, max_length=500)


def _endpoint_data(endpoint: Any) -> Any:
    return represent(EndpointSerializer, endpoint)


# --- endpoints ------------------------------------------------------------------------------


class WebhookCollectionApi(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        parameters=[TENANT],
        operation_id="webhook_list",
        summary="Your webhook endpoints",
        responses=responses(200, EndpointListSerializer, 404),
    )
    def get(self, request: Request) -> Response:
        endpoints = selectors.endpoint_list(tenant_id=_tenant(request))
        return ok(request, represent(EndpointListSerializer, {"items": endpoints}))

    @extend_schema(
        parameters=[TENANT],
        operation_id="webhook_create",
        summary="Add a webhook endpoint (its signing secret is in this answer only)",
        request=EndpointInput,
        responses=responses(201, EndpointCreatedSerializer, 404, 409, examples={409: [TOO_MANY]}),
    )
    def post(self, request: Request) -> Response:
        data = EndpointInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        with _field_errors():
            endpoint, secret = services.endpoint_create(
                tenant_id=_tenant(request),
                url=values["url"],
                events=tuple(values["events"]),
                description=values["description"],
                actor=actor_from(request),
            )
        body = {**_endpoint_data(endpoint), "secret": secret}
        return ok(request, body, status_code=201, headers=NO_STORE)


class WebhookDetailApi(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        parameters=[TENANT],
        operation_id="webhook_get",
        summary="A webhook endpoint",
        responses=responses(200, EndpointSerializer, 404),
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.endpoint_get(tenant_id=_tenant(request), endpoint_id=endpoint_id)
        return ok(request, _endpoint_data(endpoint))

    @extend_schema(
        parameters=[TENANT],
        operation_id="webhook_update",
        summary="Change a webhook endpoint (enabled: true re-enables a disabled one)",
        request=EndpointPatch,
        responses=responses(200, EndpointSerializer, 404),
    )
    def patch(self, request: Request, endpoint_id: str) -> Response:
        data = EndpointPatch(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        with _field_errors():
            endpoint = services.endpoint_update(
                tenant_id=_tenant(request),
                endpoint_id=endpoint_id,
                actor=actor_from(request),
                url=values.get("url"),
                events=tuple(values["events"]) if "events" in values else None,
                description=values.get("description"),
                enabled=values.get("enabled"),
            )
        return ok(request, _endpoint_data(endpoint))

    @extend_schema(
        parameters=[TENANT],
        operation_id="webhook_delete",
        summary="Delete a webhook endpoint",
        responses=responses(200, None, 404),
    )
    def delete(self, request: Request, endpoint_id: str) -> Response:
        services.endpoint_delete(
            tenant_id=_tenant(request), endpoint_id=endpoint_id, actor=actor_from(request)
        )
        return ok(request, None)


class WebhookRotateApi(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        parameters=[TENANT],
        operation_id="webhook_rotate_secret",
        summary="A new signing secret; the previous one signs too for 24 hours",
        request=None,
        responses=responses(200, SecretSerializer, 404),
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        endpoint, secret = services.endpoint_rotate_secret(
            tenant_id=_tenant(request), endpoint_id=endpoint_id, actor=actor_from(request)
        )
        previous = endpoint.secrets[1].expires_at if len(endpoint.secrets) > 1 else None
        body = represent(SecretSerializer, {"secret": secret, "previousValidUntil": previous})
        return ok(request, body, headers=NO_STORE)


class CallbackSecretApi(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        parameters=[TENANT],
        operation_id="webhook_callback_secret_rotate",
        summary="A new callback secret (signs the callbackUrl deliveries of your dispatches)",
        request=None,
        responses=responses(200, SecretSerializer, 404),
    )
    def post(self, request: Request) -> Response:
        secret = services.callback_secret_rotate(
            tenant_id=_tenant(request), actor=actor_from(request)
        )
        body = represent(SecretSerializer, {"secret": secret, "previousValidUntil": None})
        return ok(request, body, headers=NO_STORE)


class WebhookTestApi(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        parameters=[TENANT],
        operation_id="webhook_send_test",
        summary="Send a webhook.test event to this endpoint",
        request=None,
        responses=responses(202, DeliverySerializer, 404),
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        delivery = services.endpoint_send_test(
            tenant_id=_tenant(request), endpoint_id=endpoint_id, actor=actor_from(request)
        )
        return ok(request, represent(DeliverySerializer, delivery), status_code=202)


# --- deliveries -----------------------------------------------------------------------------


class DeliveryListApi(APIView):
    permission_classes = PERMISSIONS

    class FilterSerializer(serializers.Serializer):
        cursor = PatternField(r"^[A-Za-z0-9_.:-]{1,1000}$", required=False, help_text=CURSOR_HELP)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=25)

    @extend_schema(
        operation_id="webhook_delivery_list",
        summary="An endpoint's deliveries, newest event first (kept 30 days)",
        parameters=[TENANT, FilterSerializer],
        responses=responses(200, DeliveryPageSerializer, 404, examples={400: [BAD_CURSOR]}),
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        tenant_id = _tenant(request)
        selectors.endpoint_get(tenant_id=tenant_id, endpoint_id=endpoint_id)
        page = selectors.delivery_list(
            tenant_id=tenant_id,
            endpoint_id=endpoint_id,
            cursor=filters.validated_data.get("cursor"),
            limit=filters.validated_data["limit"],
        )
        return ok(request, represent(DeliveryPageSerializer, page))


class DeliveryDetailApi(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        parameters=[TENANT],
        operation_id="webhook_delivery_get",
        summary="A delivery and its attempts",
        responses=responses(200, DeliveryDetailSerializer, 404),
    )
    def get(self, request: Request, endpoint_id: str, event_id: str) -> Response:
        delivery, attempts = selectors.delivery_get(
            tenant_id=_tenant(request), endpoint_id=endpoint_id, event_id=event_id
        )
        body = represent(DeliverySerializer, delivery)
        body["attemptList"] = [represent(AttemptSerializer, a) for a in attempts]
        return ok(request, body)


class DeliveryResendApi(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        parameters=[TENANT],
        operation_id="webhook_delivery_resend",
        summary="Send a delivery again now (same webhook-id, a fresh retry schedule)",
        request=None,
        responses=responses(202, None, 404),
    )
    def post(self, request: Request, endpoint_id: str, event_id: str) -> Response:
        services.delivery_resend(
            tenant_id=_tenant(request),
            endpoint_id=endpoint_id,
            event_id=event_id,
            actor=actor_from(request),
        )
        return ok(request, None, status_code=202)


class RecoverApi(APIView):
    permission_classes = PERMISSIONS

    @extend_schema_serializer(component_name="WebhookRecoverInput")
    class InputSerializer(serializers.Serializer):
        since = IsoDateTimeField(help_text="Failed deliveries of events since then are resent.")

    @extend_schema(
        parameters=[TENANT],
        operation_id="webhook_recover",
        summary="Send again every failed delivery since a time",
        request=InputSerializer,
        responses=responses(202, RecoveredSerializer, 404),
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        count = services.deliveries_recover(
            tenant_id=_tenant(request),
            endpoint_id=endpoint_id,
            since=data.validated_data["since"],
            actor=actor_from(request),
        )
        return ok(request, {"deliveries": count}, status_code=202)


class NotificationsApi(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        parameters=[TENANT],
        operation_id="webhook_notifications_get",
        summary="Failure e-mails: when the tenant's users are told",
        responses=responses(200, NotifySerializer, 404),
    )
    def get(self, request: Request) -> Response:
        settings_ = selectors.notify_get(tenant_id=_tenant(request))
        return ok(request, _notify_data(settings_))

    @extend_schema(
        parameters=[TENANT],
        operation_id="webhook_notifications_set",
        summary="Choose when the tenant's users are e-mailed about failures",
        request=NotifySerializer,
        responses=responses(200, NotifySerializer, 404),
    )
    def put(self, request: Request) -> Response:
        data = NotifySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        tenant_id = _tenant(request)
        with _field_errors():
            services.notify_update(
                tenant_id=tenant_id,
                on_failure=values["on_failure"],
                streak=values["streak"],
                cooldown_minutes=values["cooldownMinutes"],
                actor=actor_from(request),
            )
        return ok(request, _notify_data(selectors.notify_get(tenant_id=tenant_id)))


def _notify_data(settings_: Any) -> dict[str, Any]:
    return {
        "onFailure": settings_.on_failure,
        "streak": settings_.streak,
        "cooldownMinutes": settings_.cooldown_seconds // 60,
    }
