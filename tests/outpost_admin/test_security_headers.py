"""Strict by default: a CSP on every page, no inline script anywhere, HTTPS settings, idle sessions."""

import json
import os
import re
import secrets
import subprocess
import sys
from collections import deque
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import resolve
from django.utils import timezone

from dispatches import storage as dispatch_storage
from outpost_admin.audit import Actor
from outpost_admin.dynamo import utcnow
from tenants import memberships
from tenants.models import TenantMembership
from tests.conftest import unique_email

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates"
NOT_PAGES = ("/static/", "/accounts/logout/", "/api/schema/")


class Links(HTMLParser):
    """Every same-site URL a page links to or loads over htmx, and its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("href", "hx-get"):
            url = found.get(name) or ""
            if url.startswith("/") and not url.startswith(NOT_PAGES):
                self.urls.append(url.split("#")[0])
        self.inline += [f"{tag} {name}" for name, _ in attrs if is_handler(name)]
        if any(v and v.strip().lower().startswith("javascript:") for _, v in attrs):
            self.inline.append(f"{tag} javascript: URL")
        self._in_script = tag == "script" and not found.get("src")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline.append(f"<script> {data.strip()[:60]}")


def is_handler(attribute: str) -> bool:
    """onclick=..., hx-on:click=..., hx-on::after-request=..., data-hx-on-...: inline code."""
    name = attribute.lower().removeprefix("data-")
    return name.startswith("on") or name.startswith("hx-on")


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = (part.strip().split() for part in header.split(";") if part.strip())
    return {d[0]: d[1:] for d in directives}


def crawl(client: Client, start: list[str]) -> dict[str, str]:
    """Visit every page reachable by GET from `start`; check each one's policy on the way.

    Returns {path: view name} of the pages visited.
    """
    seen: dict[str, str] = {}
    queue = deque(start)
    while queue and len(seen) < 200:
        url = queue.popleft()
        if url in seen:
            continue
        response = client.get(url)
        seen[url] = resolve(url.split("?")[0]).view_name
        assert response.status_code < 500, url
        if response.status_code in (301, 302):
            queue.append(response["Location"])
            continue
        if not response["Content-Type"].startswith("text/html"):
            continue
        assert_strict_policy(response, url)
        links = Links()
        links.feed(response.content.decode())
        assert links.inline == [], url
        queue.extend(u for u in links.urls if u not in seen)
    return seen


def assert_strict_policy(response, url: str) -> None:
    directives = policy(response)
    assert directives["script-src"] == ["'self'"], url
    assert directives["default-src"] == ["'self'"], url
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]


@pytest.fixture
def world(make_tenant, staff_user, django_user_model, settings):
    """A tenant with a key, a dispatch, a log line and a signed-in tenant user."""
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": ["true"]})
    tenant, issued = make_tenant()
    response = Client().post(
        "/api/v1/dispatches",
        {"agent": "claude", "task": "Walk every page of the app"},
        content_type="application/json",
        headers={"X-API-Key": issued.raw},
    )
    dispatch_id = response.json()["data"]["dispatchId"]
    dispatch = dispatch_storage.dispatch_get(dispatch_id)
    dispatch_storage.log_append(dispatch, seq=1, text="hello\n", now=utcnow())
    user = django_user_model.objects.create_user(unique_email("user"), password="pw-user-1")
    TenantMembership.objects.create(user=user, tenant_id=tenant.tenant_id)
    return tenant, dispatch_id, user


def test_every_page_staff_can_reach_has_a_csp_without_inline_scripts(staff_client, world):
    visited = set(crawl(staff_client, ["/", "/api/docs/"]).values())
    assert {
        "tenants:list",
        "tenants:detail",
        "tenants:provision",
        "tenants:key-create",
        "tenants:invite",
        "tenants:audit",
        "dispatches:list",
        "dispatches:detail",
        "dispatches:tenant",
        "api-docs",
    } <= visited


def test_every_page_a_tenant_user_can_reach_has_a_csp_without_inline_scripts(world):
    _, _, user = world
    client = Client()
    client.force_login(user)
    visited = set(crawl(client, ["/"]).values())
    assert {"dispatches:home", "dispatches:list", "dispatches:detail"} <= visited


def test_pages_without_a_login_and_error_pages_have_the_csp(world, staff_client):
    tenant, _, _ = world
    invite = memberships.tenant_user_invite(
        tenant_id=tenant.tenant_id, email=unique_email(), actor=Actor(name="tester")
    )
    visited = crawl(Client(), ["/", invite.path])
    assert {"login", "tenants:invite-accept"} <= set(visited.values())
    assert_strict_policy(staff_client.get("/tenants/00000000-0000-4000-8000-000000000000/"), "404")


def test_the_api_docs_load_their_start_up_script_as_a_file(staff_client):
    page = staff_client.get("/api/docs/")
    script = re.search(r'<script src="(/api/docs/\?[^"]*script=[^"]*)"', page.content.decode())
    assert script, page.content.decode()
    response = staff_client.get(script.group(1).replace("&amp;", "&"))
    assert response.status_code == 200 and "SwaggerUIBundle" in response.content.decode()


def test_no_template_has_an_inline_script_or_handler():
    offenders = {}
    for path in sorted(TEMPLATES.rglob("*.html")):
        links = Links()
        links.feed(path.read_text())
        if links.inline:
            offenders[str(path.relative_to(TEMPLATES))] = links.inline
    assert offenders == {}
    assert sorted(TEMPLATES.rglob("*.html"))  # the walk found the templates


def test_the_template_check_spots_what_it_must():
    links = Links()
    links.feed(
        '<script>alert(1)</script><button onclick="x()"></button><div hx-on:click="y()"></div>'
        '<a href="javascript:z()"></a><script src="/static/ok.js"></script>'
    )
    assert len(links.inline) == 4


def test_htmx_is_told_not_to_inject_styles_or_evaluate_strings(staff_client):
    html = staff_client.get("/tenants/").content.decode()
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']+)'", html)
    assert meta
    config = json.loads(meta.group(1))
    assert config["includeIndicatorStyles"] is False
    assert config["allowEval"] is False and config["allowScriptTags"] is False


# --- HTTPS settings and check --deploy, as the README gives them for production -----------------


def production_env(tmp_path) -> dict[str, str]:
    """Only what the README tells an operator to set (nothing the test run itself set)."""
    return {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "outpost_admin.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "admin.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SECURE_COOKIES": "true",
        "DJANGO_DEBUG": "false",
        "OUTPOST_VAR_DIR": str(tmp_path),
    }


def manage(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_under_the_production_settings(tmp_path):
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_https_turns_on_hsts_the_ssl_redirect_and_the_proxy_header(tmp_path):
    code = (
        "from django.conf import settings as s; import json; print(json.dumps(["
        "s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER,"
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_REDIRECT_EXEMPT]))"
    )
    result = manage(tmp_path, "shell", "-c", code)
    assert result.returncode == 0, result.stderr
    hsts, redirect, proxy, *cookies, exempt = json.loads(result.stdout.splitlines()[-1])
    assert hsts >= 365 * 24 * 3600 and redirect is True
    assert proxy == ["HTTP_X_FORWARDED_PROTO", "https"] and cookies == [True, True]
    assert any(re.match(pattern, "health/live") for pattern in exempt)


# --- staff sessions end after hours of inactivity ---------------------------------------------------


def test_a_session_lasts_hours_without_activity_not_weeks(client, staff_user):
    response = client.post("/accounts/login/", {"username": "staff", "password": "pw-staff-1"})
    assert response.status_code == 302
    assert int(response.cookies[settings.SESSION_COOKIE_NAME]["max-age"]) == 4 * 3600


def test_activity_renews_the_session(staff_client):
    staff_client.get("/tenants/")
    session = Session.objects.get()
    Session.objects.update(expire_date=timezone.now() + timedelta(minutes=5))
    store = staff_client.session
    store["_renewed_minute"] = 0  # last renewed long ago
    store.save()
    assert staff_client.get("/tenants/").status_code == 200
    renewed = Session.objects.get(pk=session.pk).expire_date - timezone.now()
    assert renewed > timedelta(hours=3, minutes=59)


def test_an_idle_session_is_signed_out(staff_client):
    staff_client.get("/tenants/")
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = staff_client.get("/tenants/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_polling_within_the_minute_writes_no_session(
    staff_client, django_assert_num_queries, monkeypatch
):
    monkeypatch.setattr("outpost_admin.middleware.time.time", lambda: 1_800_000_000.0)
    staff_client.get("/tenants/")
    with django_assert_num_queries(2):  # read the session and its user; no UPDATE
        staff_client.get("/tenants/")
