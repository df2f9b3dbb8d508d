"""OpenAPI: the security schemes of our authentication classes and the response envelope."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "outpost_admin.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "Or `Authorization: Bearer <key>`.",
        }


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "outpost_admin.api.authentication.StaffSessionAuthentication"
    name = "StaffSession"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "A staff login; writes need the X-CSRFToken header.",
        }


_Meta = inline_serializer(
    "Meta", {"requestId": serializers.CharField(), "timestamp": serializers.DateTimeField()}
)
ERROR = inline_serializer(
    "ErrorEnvelope",
    {
        "success": serializers.BooleanField(default=False),
        "error": inline_serializer(
            "Error",
            {
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "details": serializers.DictField(),
            },
        ),
        "meta": _Meta,
    },
)


_envelopes: dict[str, Any] = {}


def envelope(name: str, data: Any) -> Any:
    """The success envelope around `data` (a serializer instance or field), one per name."""
    if name not in _envelopes:
        _envelopes[name] = inline_serializer(
            f"{name}Envelope",
            {"success": serializers.BooleanField(default=True), "data": data, "meta": _Meta},
        )
    return _envelopes[name]


def responses(status: int, name: str, data: Any) -> dict[int, Any]:
    return {
        status: envelope(name, data),
        400: ERROR,
        401: ERROR,
        403: ERROR,
        404: ERROR,
        503: ERROR,
    }
