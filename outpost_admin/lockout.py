"""Sign-in lockout with django-axes: the backend that enforces it and the page that explains it."""

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class LockoutBackend(AxesStandaloneBackend):
    """axes' check for every sign-in that comes with a request (the login and invite pages).

    A call without one (Django's test Client.login, a shell) has no address to count and goes
    straight to the model backend, which still checks the password; axes itself would raise.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is not None:
            super().authenticate(request, username, password, **kwargs)


def login_locked_out(request: HttpRequest, credentials: object = None, *_: object) -> HttpResponse:
    """axes' answer to a locked-out sign-in: say why, for how long, and who can help."""
    wait = settings.AXES_COOLOFF_TIME
    minutes = max(1, int(wait.total_seconds() // 60))
    response = render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(int(wait.total_seconds()))
    return response
