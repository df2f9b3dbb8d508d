"""POST /api/v1/dispatches/<id>/rerun: run a finished dispatch again (scope `dispatch`).

Written the way the rest of the API is going: nested Input/Output serializers on the one
class of the operation, drf-spectacular reading the same classes.
"""

import uuid

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from outpost_admin.actors import actor_from
from outpost_admin.api.envelope import ok, represent
from outpost_admin.api.fields import IsoDateTimeField, PatternField
from outpost_admin.api.schema import responses
from tenants.api_authentication import principal_of, scope_permission
from tenants.domain import Scope

from . import lifecycle, selectors
from .apis import (
    _IDEMPOTENCY_KEY,
    IDEMPOTENCY_BODY_HELP,
    IDEMPOTENCY_EXAMPLES,
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY,
    create_refusals,
)
from .domain import (
    API_STATUSES,
    Dispatch,
)


class DispatchRerunApi(APIView):
    permission_classes = [scope_permission(Scope.DISPATCH)]

    @extend_schema_serializer(component_name="DispatchRerunInput")
    class InputSerializer(serializers.Serializer):
        # The key comes back in a header: what a header can't carry is a 400, not a 500.
        idempotencyKey = PatternField(
            IDEMPOTENCY_KEY,
            required=False,
            help_text=IDEMPOTENCY_BODY_HELP,
        )

    @extend_schema_serializer(component_name="DispatchRerun")
    class OutputSerializer(serializers.Serializer):
        dispatchId = serializers.CharField(source="dispatch_id")
        status = serializers.ChoiceField(API_STATUSES, source="api_status")
        agent = serializers.CharField()
        modelId = serializers.CharField(source="model_id")
        createdAt = IsoDateTimeField(source="started_at")
        rerunOf = serializers.CharField(source="rerun_of")

    @extend_schema(
        operation_id="dispatch_rerun",
        summary="Run a finished dispatch again",
        description="The same request as a new dispatch, linked to the original by rerunOf. "
        "Quotas and idempotency work as for a create.",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses=responses(
            201, OutputSerializer, 404, 409, 422, 429, 503, examples=IDEMPOTENCY_EXAMPLES
        ),
    )
    def post(self, request: Request, dispatch_id: str) -> Response:
        principal = principal_of(request)
        assert principal is not None  # the scope permission has checked it
        original = selectors.dispatch_get(tenant_id=principal.tenant_id, dispatch_id=dispatch_id)
        key = self._idempotency_key(request)
        headers = {"Idempotency-Key": key}
        try:
            with create_refusals(principal, key, headers):
                dispatch = lifecycle.dispatch_rerun(
                    original=original,
                    api_key_id=principal.key.api_key_id,
                    api_key_name=principal.key.name,
                    limits=principal.limits,
                    idempotency_key=key,
                    render=self.render,
                    actor=actor_from(request),
                )
        except lifecycle.Replay as replay:
            headers["Idempotent-Replayed"] = "true"
            return ok(request, replay.response, status_code=201, headers=headers)
        return ok(request, self.render(dispatch), status_code=201, headers=headers)

    @classmethod
    def render(cls, dispatch: Dispatch) -> dict[str, object]:
        return dict(represent(cls.OutputSerializer, dispatch))

    def _idempotency_key(self, request: Request) -> str:
        # No body is an empty QueryDict; a body that is not a JSON object is a 400.
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        header, body = (
            request.headers.get("Idempotency-Key"),
            serializer.validated_data.get("idempotencyKey"),
        )
        if header is not None and not _IDEMPOTENCY_KEY.fullmatch(header):  # "" included
            raise serializers.ValidationError(
                {
                    "idempotencyKey": [
                        "The Idempotency-Key header must be 1-255 printable characters."
                    ]
                }
            )
        if header and body and header != body:
            raise serializers.ValidationError(
                {"idempotencyKey": ["Differs from the Idempotency-Key header."]}
            )
        return body or header or f"generated-{uuid.uuid4()}"  # so a lost answer can be retried
