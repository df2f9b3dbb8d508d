"""`manage.py upgrade_layout`: bring items written by an earlier version into today's layout.

Safe to run again (every write is conditional) and while workers run. `make run` runs it at
start; in production run it once after `create_tables` when upgrading.
"""

from typing import Any

from django.core.management.base import BaseCommand

from dispatches import claim_queue


class Command(BaseCommand):
    help = "Bring items an earlier version wrote into today's layout (safe to run again)."

    def handle(self, *args: Any, **options: Any) -> None:
        listed = claim_queue.queue_unlisted()
        self.stdout.write(f"claim queue: {listed} waiting dispatch(es) listed")
