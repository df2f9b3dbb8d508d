"""Request ids on every response, idle sessions ending, store failures turned into clear pages."""

import re
import time
import uuid
from collections.abc import Callable

from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from outpost_admin.dynamo import BadCursor, Conflict, NotFound, Unavailable, counting_calls

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


WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})


def nothing_changed(request: HttpRequest, exc: Unavailable) -> bool:
    """Whether a request that failed on the store certainly wrote nothing: it sent no write,
    or its one write is the call that failed and the store certainly refused it."""
    operations = getattr(request, "store_calls", None)
    if operations is None:
        return False
    writes = [operation for operation in operations if operation in WRITES]
    if not writes:
        return True
    return len(writes) == 1 and operations[-1] in WRITES and exc.nothing_written


class StoreUnavailableMiddleware:
    """Pages: a missing item is a 404, a concurrent change a 409, an unreachable store a 503.

    It notes the request's store calls, so a 503 says "nothing was changed" only when that is
    certain (`nothing_changed`); the API's exception handler reads the same note.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with counting_calls() as log:
            request.store_calls = log.operations  # type: ignore[attr-defined]
            return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, NotFound):
            return render(request, "404.html", status=404)
        if isinstance(exception, BadCursor):
            return render(request, "400.html", {"message": "The page link is invalid."}, status=400)
        if isinstance(exception, Conflict):
            # Someone else changed the item between our read and our write; nothing was saved.
            return _banner(request, "_changed_meanwhile.html", "409.html", 409)
        if isinstance(exception, Unavailable):
            context = {"nothing_written": nothing_changed(request, exception)}
            response = _banner(request, "_store_unavailable.html", "503.html", 503, context)
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        return None


def _banner(
    request: HttpRequest, fragment: str, page: str, status: int, context: dict | None = None
) -> HttpResponse:
    """The whole error page, or for htmx only the fragment, put in the page's banner."""
    if not request.headers.get("HX-Request"):
        return render(request, page, context, status=status)
    response = render(request, fragment, context, status=status)
    response["HX-Retarget"] = "#banner"
    response["HX-Reswap"] = "innerHTML"
    return response
