"""Remembering the requests API keys make, for each key's page, without a call of its own."""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from outpost_admin.dynamo import utcnow

from .authentication import Principal, usage
from .key_requests import KeyRequest


class KeyRequestLog:
    """After a key-authenticated request is answered, hand the request (time, method, path,
    status, dispatch) to the key-usage buffer; its flush writes them, off the request path.
    DRF sets `auth` on the Django request when it authenticates, so this sees the key."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        principal = getattr(request, "auth", None)
        if isinstance(principal, Principal):
            entry = KeyRequest(
                at=utcnow(),
                method=request.method or "",
                path=request.path,
                status=response.status_code,
                dispatch_id=_dispatch_id(request, response),
            )
            usage.record_request(principal, entry)
        return response


def _dispatch_id(request: HttpRequest, response: HttpResponse) -> str:
    """The dispatch the request named (its URL), or the one it created (the answer's data)."""
    match = request.resolver_match
    if match and match.kwargs.get("dispatch_id"):
        return str(match.kwargs["dispatch_id"])
    data: Any = getattr(response, "data", None)
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        return str(data["data"].get("dispatchId") or "")
    return ""
