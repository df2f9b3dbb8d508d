"""Request ids on every response, idle sessions ending, store failures turned into clear pages."""

import re
import time
import uuid
from collections.abc import Callable

from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from outpost_admin.dynamo import BadCursor, Conflict, NotFound, Unavailable

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
RETRY_AFTER_SECONDS = 5


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request.request_id = given if _VALID_ID.fullmatch(given) else str(uuid.uuid4())  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        return response


class SessionIdleTimeoutMiddleware:
    """A signed-in session ends SESSION_COOKIE_AGE after its last request.

    Renewing it is a database write, so a busy page (htmx polling) renews it at most once
    a minute rather than on every request as SESSION_SAVE_EVERY_REQUEST would.
    """

    RENEWED = "_renewed_minute"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = request.session
        minute = int(time.time() // 60)
        if SESSION_KEY in session and session.get(self.RENEWED) != minute:
            session[self.RENEWED] = minute  # modified: SessionMiddleware saves it with a new expiry
        return response


class StoreUnavailableMiddleware:
    """Pages: a missing item is a 404, a concurrent change a 409, an unreachable store a 503."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, NotFound):
            return render(request, "404.html", status=404)
        if isinstance(exception, BadCursor):
            return render(request, "400.html", {"message": "The page link is invalid."}, status=400)
        if isinstance(exception, Conflict):
            # Someone else changed the item between our read and our write; nothing was saved.
            return _banner(request, "_changed_meanwhile.html", "409.html", status=409)
        if isinstance(exception, Unavailable):
            response = _banner(request, "_store_unavailable.html", "503.html", status=503)
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        return None


def _banner(request: HttpRequest, fragment: str, page: str, *, status: int) -> HttpResponse:
    """The whole error page, or for htmx only the fragment, put in the page's banner."""
    if not request.headers.get("HX-Request"):
        return render(request, page, status=status)
    response = render(request, fragment, status=status)
    response["HX-Retarget"] = "#banner"
    response["HX-Reswap"] = "innerHTML"
    return response
