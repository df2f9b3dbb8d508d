"""Small helpers every HTML view uses: access guards and htmx-aware rendering."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous users go to the login page; signed-in non-staff users get a 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def render_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    partial: str = "content",
    status: int = 200,
) -> HttpResponse:
    """The whole page, or only the named partial for an htmx request to the same URL.

    An htmx answer that replaces the page's content (its target is #main) also replaces the
    messages shown above it (out of band), so feedback after an action appears without a
    reload. A section loaded into the page (the tenant page's usage charts) leaves them alone:
    a message stays until the next navigation.

    Back to a pushed URL that htmx no longer holds in its history cache comes as an htmx
    request too (HX-History-Restore-Request): htmx puts the answer in place of the whole body,
    so it gets the whole page.
    """
    htmx = getattr(request, "htmx", None)
    if htmx and htmx.history_restore_request:
        htmx = None
    name = f"{template}#{partial}" if htmx else template
    response = render(request, name, context, status=status)
    if htmx and partial == "content" and htmx.target == "main":
        messages = render_to_string("_messages.html", {"oob": True}, request=request)
        response.content += messages.encode()
    patch_vary_headers(response, ["HX-Request", "HX-History-Restore-Request"])
    return response


def no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response
