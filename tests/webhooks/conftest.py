import threading
import time

import pytest

from webhooks import services
from webhooks.delivery import Deliverer

from .receiver import Receiver

FAST = [0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4]


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    settings.OUTPOST_WEBHOOK_ALLOW_PRIVATE = True
    settings.OUTPOST_WEBHOOK_RETRY_DELAYS = FAST
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


@pytest.fixture
def receiver():
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def endpoint_for(actor):
    """endpoint_for(tenant, url, events=...): (endpoint, secret)."""

    def make(tenant, url, events=("dispatch.succeeded", "dispatch.failed")):
        return services.endpoint_create(
            tenant_id=tenant.tenant_id, url=url, events=tuple(events), description="", actor=actor
        )

    return make


def deliver_until(deliverer: Deliverer, done, timeout: float = 20) -> None:
    """Run passes (as the worker's loop does) until done() or the time is up."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        if not deliverer.run_pass():
            time.sleep(0.05)
    deliverer.wait_idle()


@pytest.fixture
def deliverer_for():
    made: list[Deliverer] = []

    def make(tenant, **options):
        deliverer = Deliverer(tenant_id=tenant.tenant_id, **options)
        made.append(deliverer)
        return deliverer

    yield make
    for deliverer in made:
        deliverer.close()


class Background:
    """A deliverer's loop in a thread, as a worker runs it."""

    def __init__(self, deliverer: Deliverer):
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=deliverer.run, args=(self.stop,), kwargs={"every": 0.05}
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=30)
