"""`manage.py deliver_webhooks`: the webhook delivery loop alone (the workers run it too)."""

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from webhooks.delivery import Deliverer


class Command(BaseCommand):
    help = "Fan out and deliver webhook events until stopped (workers run this loop too)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="", help="only this tenant's (tests)")
        parser.add_argument("--threads", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        deliverer = Deliverer(
            threads=options["threads"] or None, tenant_id=options["tenant"] or None
        )
        self.stdout.write("delivering webhooks", ending="\n")
        self.stdout.flush()
        deliverer.run(stop)
