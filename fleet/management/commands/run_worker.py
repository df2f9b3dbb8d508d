"""`manage.py run_worker`: claim PENDING dispatches and run them until SIGTERM (or, with --once, the queue is empty)."""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from fleet.worker import Worker, default_worker_id


class Command(BaseCommand):
    help = "Run dispatches: up to --concurrency at once; SIGTERM finishes or hands back work and exits."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--concurrency",
            type=int,
            default=settings.OUTPOST_WORKER_CONCURRENCY,
            help="dispatches run at once (default: $OUTPOST_WORKER_CONCURRENCY, else 1)",
        )
        parser.add_argument("--once", action="store_true", help="run what is pending, then exit")
        parser.add_argument("--worker-id", default="", help="default: <hostname>-<pid>")
        parser.add_argument("--tenant", default="", help="only run this tenant's dispatches")
        parser.add_argument(
            "--drain-seconds",
            type=float,
            default=settings.OUTPOST_WORKER_DRAIN_SECONDS,
            help="on SIGTERM, how long running dispatches may finish before they are handed back "
            "(default: $OUTPOST_WORKER_DRAIN_SECONDS, else 30)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        worker = Worker(
            worker_id=options["worker_id"] or default_worker_id(),
            concurrency=max(1, options["concurrency"]),
            tenant_id=options["tenant"] or None,
            drain_seconds=options["drain_seconds"],
            # Recovery runs inside the workers, one at a time under a lease.
            recover_every=settings.OUTPOST_RECOVERY_SECONDS,
            follow_every=settings.OUTPOST_STREAM_FOLLOW_SECONDS,
            deliver_webhooks=True,
            bill_every=settings.OUTPOST_BILLING_SECONDS,
        )
        self.stdout.write(f"worker {worker.worker_id}: {worker.concurrency} slot(s)")
        with _stopping_on_signals(worker):
            processed = worker.run(once=options["once"])
        self.stdout.write(f"worker {worker.worker_id}: ran {processed} dispatch(es), exiting")


@contextmanager
def _stopping_on_signals(worker: Worker) -> Iterator[None]:
    """SIGTERM/SIGINT stop claiming; a second one hands running dispatches back at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        worker.stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
