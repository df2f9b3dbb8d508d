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
    "BUDGET_EXCEEDED",
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


# --- examples: what the docs page shows and "Try it out" sends ---------------------------------
# Without them Swagger UI makes samples up from the types and patterns: a create body of random
# text without its `agent`, error envelopes saying `"success": true`, dates in the year 0004.
# tests/outpost_admin/test_api_examples.py sends every request example to a live server and
# expects the operation's documented success status.

DATE_TIME_EXAMPLE = "2026-01-15T09:30:00.000Z"
TASK = "Fix the failing test in tests/test_parser.py and open a pull request"
DISPATCH_BODY = {
    "agent": "claude",
    "task": TASK,
    "repo": "acme/widgets",
    "branch": "main",
    "timeoutSeconds": 600,
    "tags": {"team": "core", "ticket": "OPS-103"},
}
REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "admin_tenant_list": {"query": {"search": "Acme", "limit": 20}},
    "admin_tenant_create": {
        "body": {"name": "Acme Robotics", "email": "platform@acme-robotics.example", "tier": "pro"}
    },
    "admin_tenant_update": {"body": {"tier": "enterprise"}},
    "admin_key_create": {
        "body": {
            "name": "ci-bot",
            "scopes": ["dispatch", "status", "list"],
            "expiresAt": "2030-01-01T00:00:00.000Z",
        }
    },
    "admin_key_rotate": {"body": {"graceHours": 24}},
    "admin_budget_set": {"body": {"hardCents": 50000, "softCents": 40000}},
    "admin_key_budget_set": {"body": {"hardCents": 10000, "softCents": 8000}},
    "key_budget_lower": {"body": {"hardCents": 5000, "softCents": 4000}},
    "admin_usage_get": {"query": {"days": 7}},
    "dispatch_list": {"query": {"agent": "claude", "limit": 20}},
    "dispatch_create": {"body": DISPATCH_BODY},
    # No idempotency key: a fixed one, sent for another dispatch, is rightly a 422.
    "dispatch_rerun": {"body": {}},
    "usage_get": {"query": {"days": 7}},
    "legacy_dispatch_create": {"body": DISPATCH_BODY},
    "webhook_create": {
        "body": {
            "url": "https://hooks.acme-robotics.example/outpost",
            "events": ["dispatch.succeeded", "dispatch.failed"],
            "description": "CI notifications",
        }
    },
    "webhook_update": {"body": {"description": "CI notifications (ops)", "enabled": True}},
    "webhook_delivery_list": {"query": {"limit": 20}},
    "webhook_recover": {"body": {"since": DATE_TIME_EXAMPLE}},
    "webhook_notifications_set": {"body": {"onFailure": True, "streak": 3, "cooldownMinutes": 60}},
}
PATH_EXAMPLES = {
    "tenant_id": "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b",
    "key_id": "0b8e7d6c-5f4a-4e3b-9d2c-1a0f9e8d7c6b",
    "dispatch_id": "01JH3Z8Q4M7N2P5R9S6T1V3W8X",
    "endpoint_id": "5c2b9e1a-7d4f-4b8e-9a3c-2e1f0d9c8b7a",
    "event_id": "msg_01JH3Z9B3C4D5E6F7G8H9J0K1M",
}
# A realistic value for a property that a type or pattern alone would make up.
PROPERTY_EXAMPLES: dict[str, Any] = {
    "requestId": "3f1c0e9a-5b7d-4e2f-9a61-0c8d2b4e7f10",
    "tenantId": PATH_EXAMPLES["tenant_id"],
    "apiKeyId": PATH_EXAMPLES["key_id"],
    "dispatchId": PATH_EXAMPLES["dispatch_id"],
    "rerunOf": "01JH3Y2K8B5C7D9E1F3G5H7J9K",
    "name": "Acme Robotics",
    "email": "platform@acme-robotics.example",
    "task": TASK,
    "repo": "acme/widgets",
    "branch": "main",
    "keyPrefix": "otp_7Hq2x",
    "expiresAt": "2030-01-01T00:00:00.000Z",  # a request's must be in the future
    "cursor": "eyJrIjoiMDFKSDNaOFE0TTdOMlA1UjlTNlQxVjNXOFgifQ:1tY2Qx:abc",
}
DATE_TIME, DATE = "2026-01-15T09:30:00.000Z", "2026-01-15"
ERROR_EXAMPLES: dict[int, tuple[str, str, dict[str, Any]]] = {
    400: (
        "VALIDATION_ERROR",
        "Invalid input: task.",
        {"task": ["Ensure this field has at least 10 characters."]},
    ),
    401: ("AUTHENTICATION_ERROR", "Invalid API key.", {}),
    403: ("AUTHORIZATION_ERROR", "The API key lacks the 'dispatch' scope.", {"scope": "dispatch"}),
    404: ("NOT_FOUND", "Not found.", {}),
    409: ("CONFLICT", "The dispatch is already success.", {}),
    413: ("PAYLOAD_TOO_LARGE", "The request body is too large.", {}),
    414: ("URI_TOO_LONG", "The URL is longer than 4096 characters.", {}),
    415: ("UNSUPPORTED_MEDIA_TYPE", 'Unsupported media type "text/plain" in request.', {}),
    422: (
        "IDEMPOTENCY_MISMATCH",
        "The idempotency key was used with a different request body.",
        {},
    ),
    429: ("RATE_LIMIT_EXCEEDED", "Too many failed authentications from this address.", {}),
    503: ("SERVICE_UNAVAILABLE", "The data store is unavailable; try again shortly.", {}),
}


def add_examples(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS): every operation gets
    examples of its request and of its error answers, every property a realistic value."""
    for schema in result.get("components", {}).get("schemas", {}).values():
        _property_examples(schema)
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            _operation_examples(operation)
    return result


def _property_examples(schema: dict[str, Any]) -> None:
    for name, prop in schema.get("properties", {}).items():
        if "example" in prop or "$ref" in prop:
            continue
        if name in PROPERTY_EXAMPLES:
            prop["example"] = PROPERTY_EXAMPLES[name]
        elif prop.get("format") == "date-time":
            prop["example"] = DATE_TIME
        elif prop.get("format") == "date":
            prop["example"] = DATE
    if schema.get("properties", {}).get("success", {}).get("description") == "Always false.":
        schema["properties"]["success"].update(const=False, example=False)


def _operation_examples(operation: dict[str, Any]) -> None:
    given = REQUEST_EXAMPLES.get(operation.get("operationId", ""), {})
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path" and parameter["name"] in PATH_EXAMPLES:
            parameter["example"] = PATH_EXAMPLES[parameter["name"]]
        elif parameter["in"] == "query" and parameter["name"] in given.get("query", {}):
            parameter["example"] = given["query"][parameter["name"]]
    if "body" in given and "requestBody" in operation:
        media = operation["requestBody"]["content"]["application/json"]
        media["examples"] = {"Example": {"summary": "A typical request", "value": given["body"]}}
    for status, response in operation.get("responses", {}).items():
        media = response.get("content", {}).get("application/json")
        if media is None or "examples" in media or int(status) not in ERROR_EXAMPLES:
            continue
        code, message, details = ERROR_EXAMPLES[int(status)]
        error = {"code": code, "message": message, "details": details}
        meta = {"requestId": PROPERTY_EXAMPLES["requestId"], "timestamp": DATE_TIME}
        value = {"success": False, "error": error, "meta": meta}
        media["examples"] = {code: {"summary": message, "value": value}}
