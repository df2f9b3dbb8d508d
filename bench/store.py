"""The one set-up every benchmark shares: a DynamoDB Local of its own, in memory."""

import subprocess
from collections.abc import Callable

from django.conf import settings
from django.test.utils import setup_test_environment

from outpost_admin.dynamo import local, reset_client


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
