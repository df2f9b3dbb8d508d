"""The one set-up every benchmark shares: a DynamoDB Local of its own, in memory, its tables,
enterprise tenants and a signed-in staff browser."""

import subprocess
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment, teardown_test_environment

from outpost_admin.audit import Actor
from outpost_admin.dynamo import local, reset_client
from outpost_admin.dynamo.tables import create_tables
from tenants import services
from tenants.domain import IssuedKey, Tenant, Tier


def run_against_local_store(
    run: Callable[[subprocess.Popen[bytes]], None], *, read_timeout: float
) -> None:
    """Start DynamoDB Local, point this process's client at it, run (given the emulator's
    process, which bench/outage.py pauses), stop it.

    Seeding a cold emulator on a busy machine can take over a second a call; the timeouts
    bound failures, not speed, so the bench process waits `read_timeout`.
    """
    setup_test_environment()
    settings.ALLOWED_HOSTS = ["*"]
    port = local.free_port()
    process = local.start(port=port)
    settings.DYNAMODB_ENDPOINT_URL = f"http://127.0.0.1:{port}"
    settings.DYNAMODB_READ_TIMEOUT = read_timeout
    reset_client()
    try:
        run(process)
    finally:
        process.terminate()
        teardown_test_environment()  # so a benchmark may start another store after this one


def tables_and_staff() -> Client:
    """Tables and migrations in place; a test client signed in as a staff user."""
    create_tables(log=lambda _: None)
    call_command("migrate", verbosity=0)
    staff = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True}
    )[0]
    browser = Client()
    browser.force_login(staff)
    return browser


def enterprise_tenant(name: str) -> tuple[Tenant, IssuedKey]:
    """A new enterprise tenant (50 dispatches at once) and its first key."""
    return services.tenant_provision(
        name=name,
        email=f"{uuid.uuid4().hex}@example.com",
        tier=Tier.ENTERPRISE,
        actor=Actor(name="bench"),
    )
