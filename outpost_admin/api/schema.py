"""OpenAPI: the security schemes of our authentication classes and the response envelope."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema_serializer
from rest_framework import serializers


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.api_authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "Or `Authorization: Bearer <key>`.",
        }


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.api_authentication.StaffSessionAuthentication"
    name = "StaffSession"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "A staff login; writes need the X-CSRFToken header.",
        }


ERROR_CODES = [
    "VALIDATION_ERROR",
    "IDEMPOTENCY_MISMATCH",
    "AUTHENTICATION_ERROR",
    "AUTHORIZATION_ERROR",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "NOT_ACCEPTABLE",
    "PAYLOAD_TOO_LARGE",
    "URI_TOO_LONG",
    "UNSUPPORTED_MEDIA_TYPE",
    "CONFLICT",
    "RATE_LIMIT_EXCEEDED",
    "SERVICE_UNAVAILABLE",
    "INTERNAL_ERROR",
]


@extend_schema_serializer(component_name="Meta")
class MetaSerializer(serializers.Serializer):
    requestId = serializers.CharField(help_text="Also in the X-Request-ID header.")
    timestamp = serializers.DateTimeField()


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=f"One of {', '.join(ERROR_CODES)}.")
    message = serializers.CharField()
    details = serializers.DictField(
        help_text="For VALIDATION_ERROR, each field name with its messages."
    )


@extend_schema_serializer(component_name="ErrorEnvelope")
class ErrorEnvelopeSerializer(serializers.Serializer):
    success = serializers.BooleanField(help_text="Always false.")
    error = ErrorSerializer()
    meta = MetaSerializer()


ERROR = ErrorEnvelopeSerializer

_envelopes: dict[type[serializers.Serializer], type[serializers.Serializer]] = {}


def envelope(output: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The success envelope around an Output serializer: {"success", "data", "meta"}."""
    if output not in _envelopes:
        name = f"{component_name(output)}Envelope"
        fields = {"success": serializers.BooleanField(), "data": output(), "meta": MetaSerializer()}
        built = type(name, (serializers.Serializer,), fields)
        _envelopes[output] = extend_schema_serializer(component_name=name)(built)
    return _envelopes[output]


def component_name(serializer: type[serializers.Serializer]) -> str:
    override = getattr(serializer, "_spectacular_annotation", {}).get("component_name")
    return str(override or serializer.__name__.removesuffix("Serializer"))


# Every authenticated operation can answer these: bad query or body, no or a bad key, a key
# without the scope, a URL over MAX_URL_LENGTH, too many failed authentications from this
# address, a store outage.
COMMON_ERRORS = (400, 401, 403, 414, 429, 503)


def responses(
    status: int,
    output: type[serializers.Serializer] | None,
    *errors: int,
    examples: dict[int, list[OpenApiExample]] | None = None,
) -> dict[int, Any]:
    """An operation's answers: its success envelope, the common errors and `errors`, with
    `examples` of error bodies for the rules a schema cannot state as a type."""
    success = envelope(output) if output else None
    answers: dict[int, Any] = {status: success}
    for code in sorted({*COMMON_ERRORS, *errors}):
        shown = (examples or {}).get(code)
        answers[code] = OpenApiResponse(ERROR, examples=shown) if shown else ERROR
    return answers


def error_example(
    name: str, summary: str, code: str, message: str, details: dict[str, Any] | None = None
) -> OpenApiExample:
    """An error answer as the code writes it (tests compare the two)."""
    error = {"code": code, "message": message, "details": details or {}}
    meta = {
        "requestId": "3f1c0e9a-5b7d-4e2f-9a61-0c8d2b4e7f10",
        "timestamp": "2026-01-01T00:00:00.000Z",
    }
    value = {"success": False, "error": error, "meta": meta}
    return OpenApiExample(name, summary=summary, value=value, response_only=True)


CURSOR_HELP = (
    "Opaque: the `cursor` of the previous page, with the same filters. Only a cursor this API "
    "issued is taken: any other value (made up, altered, or from other filters) is a 400."
)
BAD_CURSOR = error_example(
    "BadCursor",
    "A cursor this API did not issue",
    "VALIDATION_ERROR",
    "Invalid cursor.",
    {"cursor": ["The cursor is invalid."]},
)
