"""A flood of failed sign-ins against gunicorn as `make run` starts it (2 processes x 8 threads,
SQLite): answers degrade to 429, never a 500; a real user elsewhere still signs in; the
lockout table does not grow with every made-up username."""

import http.client
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings

from tests.live_app import app_server

pytestmark = [pytest.mark.slow, pytest.mark.server]

FLOOD, CONCURRENCY = 400, 16
ATTACKER, USER = "203.0.113.1", "203.0.113.2"


def manage(var_dir, *args: str, **env: str) -> None:
    database = {"DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}"}
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={**os.environ, **database, "DJANGO_SECRET_KEY": "test-only", **env},
        check=True,
    )


@pytest.fixture(scope="module")
def server(dynamodb_local, tmp_path_factory):
    """The app with its own SQLite, a user `alice`, behind one trusted proxy (so a test can
    sign in from several addresses)."""
    var_dir = tmp_path_factory.mktemp("sign-in-flood")
    manage(var_dir, "migrate", "--noinput", "-v0")
    user = {"DJANGO_SUPERUSER_USERNAME": "alice", "DJANGO_SUPERUSER_PASSWORD": "pw-alice-1"}
    manage(var_dir, "createsuperuser", "--noinput", "--email", "a@example.com", **user)
    with app_server(dynamodb_local, var_dir, one_process=False, OUTPOST_TRUSTED_PROXIES="1") as url:
        yield url, var_dir / "db.sqlite3"


class Browser:
    """Sign-in posts with a CSRF cookie and token, from a given address, redirects not followed."""

    def __init__(self, url: str):
        self.host = urlsplit(url).netloc
        _, headers, _ = self.request("GET", "/accounts/login/")
        self.token = SimpleCookie(headers["Set-Cookie"])["csrftoken"].value

    def request(self, method: str, path: str, body: str = "", **headers: str):
        connection = http.client.HTTPConnection(self.host, timeout=60)
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def sign_in(self, username: str, password: str, address: str) -> int:
        body = {"username": username, "password": password, "csrfmiddlewaretoken": self.token}
        status, _, _ = self.request(
            "POST",
            "/accounts/login/",
            urlencode(body),
            **{
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={self.token}",
                "X-Forwarded-For": address,
            },
        )
        return status


def test_a_flood_of_failed_sign_ins_gets_no_500_and_a_user_elsewhere_still_signs_in(server):
    url, database = server
    browser = Browser(url)

    def guess(_: int) -> int:
        return browser.sign_in(f"random-{uuid.uuid4().hex}", "wrong-password", ATTACKER)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        statuses = list(pool.map(guess, range(FLOOD)))
    assert set(statuses) <= {200, 429}, {s: statuses.count(s) for s in set(statuses)}
    assert statuses.count(429) >= FLOOD - CONCURRENCY - settings.OUTPOST_LOGIN_ADDRESS_FAILURE_LIMIT
    started = time.monotonic()
    assert browser.sign_in("alice", "pw-alice-1", USER) == 302
    assert time.monotonic() - started < 5
    assert browser.sign_in("alice", "pw-alice-1", ATTACKER) == 429  # the address stays locked
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_the_flood_left_a_bounded_number_of_attempt_rows(server):
    """One row per guess until the address locked (the guesses in flight then included),
    none for the hundreds refused after it."""
    _, database = server
    with sqlite3.connect(database) as db:
        (rows,) = db.execute("SELECT COUNT(*) FROM axes_accessattempt").fetchone()
    assert 0 < rows <= settings.OUTPOST_LOGIN_ADDRESS_FAILURE_LIMIT + CONCURRENCY
