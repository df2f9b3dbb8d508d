"""Chromium through Playwright's sync API, against pytest-django's live_server."""

import io
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, Page, sync_playwright

from tenants.models import TenantMembership
from tests.conftest import unique_email

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STAFF_PASSWORD = "pw-browser-1"
TENANT_PASSWORD = "pw-tenant-user-1"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Browser tests need Debian's Chromium at /usr/bin/chromium (make chromium).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live_server) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def staff_login(transactional_db, django_user_model):
    """A staff user with a real password, for the login form."""
    return django_user_model.objects.create_user(
        "browser-staff", "browser@example.com", STAFF_PASSWORD, is_staff=True
    )


@pytest.fixture
def signed_in_page(page: Page, staff_login) -> Page:
    log_in(page, staff_login.username, STAFF_PASSWORD)
    page.wait_for_url("**/tenants/")
    return page


@pytest.fixture
def tenant_user_of(transactional_db, make_tenant, django_user_model):
    """tenant_user_of(name): a tenant, its raw key, and a user of it who signs in with
    TENANT_PASSWORD."""

    def make(name: str):
        tenant, issued = make_tenant(name=name)
        email = unique_email("browser")
        user = django_user_model.objects.create_user(email, password=TENANT_PASSWORD)
        TenantMembership.objects.create(user=user, tenant_id=tenant.tenant_id)
        return tenant, issued.raw, user

    return make


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username or e-mail").fill(username)
    page.get_by_label("Password").fill(password)
    page.click("main button[type=submit]")


def signed_in_as(browser: Browser, base_url: str, username: str) -> Page:
    """A page of a new browser context, signed in as this tenant user (TENANT_PASSWORD)."""
    page = browser.new_context(base_url=base_url).new_page()
    page.set_default_timeout(10_000)
    log_in(page, username, TENANT_PASSWORD)
    page.wait_for_url("**/home/")
    return page


def create_dispatch(base_url: str, raw_key: str, **fields: object) -> str:
    """A dispatch created through the API, as a program would: its id."""
    body = {"agent": "claude", "task": "Say hello from the browser test", **fields}
    request = urllib.request.Request(
        f"{base_url}/api/v1/dispatches",
        data=json.dumps(body).encode(),
        headers={"X-API-Key": raw_key, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return json.load(response)["data"]["dispatchId"]


def start_worker(tenant_id: str) -> threading.Thread:
    """The real worker, once over this tenant's pending dispatches, as `make run` starts it."""
    thread = threading.Thread(
        target=call_command,
        args=("run_worker", "--once", "--tenant", tenant_id),
        kwargs={"stdout": io.StringIO()},
        daemon=True,
    )
    thread.start()
    return thread
