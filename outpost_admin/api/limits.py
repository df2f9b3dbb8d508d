"""An over-long URL is a JSON 414 in the envelope, from the app rather than gunicorn.

gunicorn answers a request line over its `limit_request_line` with an HTML page of its own.
gunicorn.conf.py raises that limit to its maximum (8190 bytes), and the app refuses anything
over MAX_URL_LENGTH below it, in the envelope every client of the API already reads. Beyond
gunicorn's limit the HTML 414 remains: the proxy in front should cap URLs below it (README).
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from .envelope import meta

MAX_URL_LENGTH = 4096
"""Characters of the request target (path and query string, as sent)."""


class UriTooLongMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # RAW_URI is gunicorn's request target, exactly as sent; elsewhere, Django's rebuild.
        target = request.META.get("RAW_URI") or request.get_full_path()
        if len(target) > MAX_URL_LENGTH:
            return uri_too_long(request)
        return self.get_response(request)


def uri_too_long(request: HttpRequest) -> JsonResponse:
    error = {
        "code": "URI_TOO_LONG",
        "message": f"The URL is longer than {MAX_URL_LENGTH} characters.",
        "details": {"maxLength": MAX_URL_LENGTH},
    }
    return JsonResponse({"success": False, "error": error, "meta": meta(request)}, status=414)
