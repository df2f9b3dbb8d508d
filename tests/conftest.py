"""The suite talks to a real DynamoDB Local, started once per session in memory on a free port."""

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from botocore.exceptions import ReadTimeoutError
from django.conf import settings
from django.test import Client

from fleet import health
from outpost_admin.audit import Actor
from outpost_admin.dynamo import call, iso, local, reset_client, utcnow, values
from outpost_admin.dynamo import client as dynamodb_client
from outpost_admin.dynamo.tables import TENANTS, create_tables
from tenants import authentication, services, storage
from tenants.domain import Scope, Tier
from tenants.models import TenantMembership

# Playwright's sync API runs an event loop beside live_server's synchronous ORM calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# The web server's time budget of a store call (README, "Time budget"). The suite itself
# waits longer: on a loaded 2-core machine DynamoDB Local can take over a second to answer.
# The outage tests put these values in force.
PRODUCTION_TIMEOUTS = {
    "DYNAMODB_CONNECT_TIMEOUT": float(settings.WEB_REQUEST_BUDGET["connect"]),
    "DYNAMODB_READ_TIMEOUT": float(settings.WEB_REQUEST_BUDGET["read"]),
    "DYNAMODB_MAX_ATTEMPTS": int(settings.WEB_REQUEST_BUDGET["attempts"]),
}


@pytest.fixture(scope="session", autouse=True)
def dynamodb_local() -> Iterator[str]:
    process, endpoint = _own_store()
    settings.DYNAMODB_CONNECT_TIMEOUT = 5
    settings.DYNAMODB_READ_TIMEOUT = 15
    reset_client()
    create_tables(log=lambda _: None)
    yield endpoint
    process.terminate()
    process.wait(timeout=20)


def _own_store() -> tuple[subprocess.Popen[bytes], str]:
    """A DynamoDB Local of our own. Between free_port() and the bind, another test run on
    this machine may take the port: our emulator then exits, and the port answers with the
    other run's tables. Seen under load; try another port then."""
    for _ in range(5):
        port = local.free_port()
        process = local.start(port=port)
        settings.DYNAMODB_ENDPOINT_URL = f"http://127.0.0.1:{port}"
        reset_client()
        time.sleep(0.5)
        if process.poll() is None and not dynamodb_client().list_tables()["TableNames"]:
            return process, settings.DYNAMODB_ENDPOINT_URL
        process.terminate()
        process.wait(timeout=20)
    raise RuntimeError("could not start a DynamoDB Local of this test run's own")


@pytest.fixture(autouse=True)
def _fresh_key_cache() -> Iterator[None]:
    authentication.forget_all()
    authentication.usage.reset()
    yield
    authentication.usage.wait()


@pytest.fixture(autouse=True)
def _uncached_fleet_health(settings) -> None:
    """/health/fleet answers from a per-process cache; tests that read it before and after a
    change need fresh answers, so the window is 0 unless a test opts in (tests of the cache)."""
    settings.OUTPOST_HEALTH_CACHE_SECONDS = 0
    health.forget_fleet()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # The default hasher takes most of a second per user; tests need no protection from brute force.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def actor() -> Actor:
    return Actor(name="tester", request_id="req-test", ip_address="127.0.0.1", user_agent="pytest")


def unique_email(label: str = "t") -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}@example.com"


@contextmanager
def unreachable_store() -> Iterator[None]:
    """Point the client at a port nobody listens on; put everything back afterwards."""
    endpoint = settings.DYNAMODB_ENDPOINT_URL
    settings.DYNAMODB_ENDPOINT_URL = f"http://127.0.0.1:{local.free_port()}"
    reset_client()
    try:
        yield
    finally:
        settings.DYNAMODB_ENDPOINT_URL = endpoint
        reset_client()


@contextmanager
def answers_lost(
    times: int | None = None, operation: str = "TransactWriteItems"
) -> Iterator[list[int]]:
    """The call reaches DynamoDB, which applies it; the answer never comes back (the first
    `times` attempts, or every attempt)."""
    dynamo = dynamodb_client()
    event = f"before-send.dynamodb.{operation}"
    lost: list[int] = []

    def send_then_lose(request, **_):
        if times is not None and len(lost) >= times:
            return None
        dynamo._endpoint.http_session.send(request)  # the real call, applied by DynamoDB
        lost.append(1)
        raise ReadTimeoutError(endpoint_url=request.url)

    dynamo.meta.events.register_first(event, send_then_lose)
    try:
        yield lost
    finally:
        dynamo.meta.events.unregister(event, send_then_lose)


@pytest.fixture
def login_member(django_user_model):
    """login_member(tenant_id): a signed-in test client of a new user of that tenant."""

    def make(tenant_id):
        user = django_user_model.objects.create_user(unique_email("user"), password="pw-user-1")
        TenantMembership.objects.create(user=user, tenant_id=tenant_id)
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def operator_key(actor: Actor):
    """operator_key(tenant_id): a key with only the operator scope, granted by staff."""

    def make(tenant_id: str):
        return services.key_create(
            tenant_id=tenant_id,
            name="ops",
            scopes=(Scope.OPERATOR,),
            expires_at=None,
            actor=actor,
            by_staff=True,
        )

    return make


@pytest.fixture
def make_tenant(actor: Actor):
    """Provision a tenant for real; returns (tenant, issued key)."""

    def make(name: str | None = None, tier: Tier = Tier.PRO, email: str | None = None):
        return services.tenant_provision(
            name=name or f"Tenant {uuid.uuid4().hex[:8]}",
            email=email or unique_email(),
            tier=tier,
            actor=actor,
        )

    return make


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        "staff", "staff@example.com", "pw-staff-1", is_staff=True
    )


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@contextmanager
def another_admin_edits_first(tenant_id):
    """Just before our write, someone else changes the tenant (as a concurrent request would)."""
    fired: list[bool] = []

    def edit(**_):
        if not fired:
            fired.append(True)
            call(
                "update_item",
                TableName=TENANTS.name,
                Key=storage.tenant_key(tenant_id),
                UpdateExpression="SET updatedAt = :now",
                ExpressionAttributeValues=values({":now": iso(utcnow())}),
            )

    events = dynamodb_client().meta.events
    events.register("before-call.dynamodb.TransactWriteItems", edit)
    try:
        yield
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", edit)
    assert fired


def roll_up() -> None:
    """Count what the streams hold, as the workers' follower does every few seconds: the
    usage roll-ups (and the queue) trail the dispatches until then. In a thread of its own,
    as a worker's, so a test counting its own calls does not count these."""
    from fleet import recovery as reconcile
    from usage import backfill

    def follow() -> None:
        for _ in range(20):
            followed = backfill.follow_streams(holder="tests", old_lease=reconcile.LEASE)
            if not followed.kept and not followed.failed:  # (the leases' own records remain)
                return

    follower = threading.Thread(target=follow)
    follower.start()
    follower.join()


# The kinds of slow test, so a quick subset runs on its own (README, "Tests"):
# `pytest -m "not browser and not server and not slow"`; `make test` runs everything.
_SERVER_MODULES = {"test_revocation", "test_store_outage", "test_api_fuzz", "test_run_local"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "browser" in item.path.parts:
            item.add_marker(pytest.mark.browser)
        if item.path.stem in _SERVER_MODULES:
            item.add_marker(pytest.mark.server)
            item.add_marker(pytest.mark.slow)
