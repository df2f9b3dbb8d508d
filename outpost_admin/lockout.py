"""Sign-in lockout with django-axes: the backend that enforces it, the handler that keeps its
records bounded and never fails a request, and the page that explains it."""

import logging
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db import DatabaseError
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from outpost_admin.middleware import RETRY_AFTER_SECONDS

logger = logging.getLogger(__name__)


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


class LockoutHandler(AxesDatabaseHandler):
    """axes' database handler (the lock is shared by every gunicorn process), with three changes.

    - Two locks, each with its own limit: a username at one address (AXES_FAILURE_LIMIT) and
      an address whatever the usernames (OUTPOST_LOGIN_ADDRESS_FAILURE_LIMIT), in the order of
      AXES_LOCKOUT_PARAMETERS. axes compares one count with one limit, so `get_failures`
      answers with the failures of the nearer lock, scaled to AXES_FAILURE_LIMIT, and leaves
      the tries left on the request for the login page (`outpost_tries_left`).
    - A try refused during a lockout checks no password, so it is no guess: it restarts the
      wait of the locks that refused it, as axes does, but adds no row. A flood of made-up
      usernames from a locked address then costs no row each; rows older than the lockout
      are deleted by axes at every failure, so the table holds at most the failures of the
      last AXES_COOLOFF_TIME.
    - A database error in the bookkeeping is a logged warning, never a 500: when the lock
      cannot be read the sign-in is refused for now (a 503, `login_locked_out`); when a
      failure or a success cannot be written, the answer it already has stands.
    """

    def get_failures(self, request: Any, credentials: dict | None = None) -> int:
        left = min(
            limit - _failures(attempts)
            for limit, attempts in zip(
                _limits(request, credentials),
                self.get_user_attempts(request, credentials),
                strict=True,
            )
        )
        request.outpost_tries_left = max(0, left)
        return get_failure_limit(request, credentials) - left

    def is_allowed(self, request: Any, credentials: dict | None = None) -> bool:
        try:
            allowed = super().is_allowed(request, credentials)
        except DatabaseError as exc:
            logger.warning("sign-in refused: the lockout records could not be read: %s", exc)
            request.outpost_lock_unknown = True
            allowed = False
        request.outpost_refused = not allowed
        return allowed

    def user_login_failed(
        self, sender: Any, credentials: dict, request: Any = None, **kwargs: Any
    ) -> None:
        try:
            if request is not None and getattr(request, "outpost_refused", False):
                self._restart_the_wait(request, credentials)
            else:
                super().user_login_failed(sender, credentials, request, **kwargs)
        except DatabaseError as exc:
            logger.warning("a failed sign-in went uncounted: %s", exc)

    def _restart_the_wait(self, request: Any, credentials: dict) -> None:
        """Every lock that refused this try (a username's rows, an address's) waits anew."""
        request.axes_locked_out = True  # AxesMiddleware answers with login_locked_out
        request.axes_credentials = credentials
        if getattr(request, "outpost_lock_unknown", False):
            return
        self.clean_expired_user_attempts(request, credentials)
        for limit, attempts in zip(
            _limits(request, credentials),
            self.get_user_attempts(request, credentials),
            strict=True,
        ):
            if _failures(attempts) >= limit:
                attempts.update(attempt_time=request.axes_attempt_time)

    def user_logged_in(self, sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
        try:
            super().user_logged_in(sender, request, user, **kwargs)
        except DatabaseError as exc:
            logger.warning("a sign-in's lockout records were not updated: %s", exc)

    def user_logged_out(self, sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
        try:
            super().user_logged_out(sender, request, user, **kwargs)
        except DatabaseError as exc:
            logger.warning("a sign-out's access log was not updated: %s", exc)


def _limits(request: Any, credentials: dict | None) -> tuple[int, int]:
    """The limits of the two locks: a username at an address, and an address."""
    return get_failure_limit(request, credentials), settings.OUTPOST_LOGIN_ADDRESS_FAILURE_LIMIT


def _failures(attempts: QuerySet[AccessAttempt]) -> int:
    return attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0


def login_locked_out(request: HttpRequest, credentials: object = None, *_: object) -> HttpResponse:
    """axes' answer to a locked-out sign-in: say why, for how long, and who can help.
    When the lock could not be read at all, a 503: try again in a few seconds."""
    if getattr(request, "outpost_lock_unknown", False):
        response = render(request, "registration/locked_out.html", {"busy": True}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    wait = settings.AXES_COOLOFF_TIME
    minutes = max(1, int(wait.total_seconds() // 60))
    response = render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(int(wait.total_seconds()))
    return response
