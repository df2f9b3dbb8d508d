"""`manage.py upgrade_layout`: bring items written by an earlier version into today's layout.

Safe to run again (every write is conditional) and while workers run. `make run` runs it at
start; in production run it once after `create_tables` when upgrading. Slot markers of the
single `SLOTS` partition (before issue 13) are not moved: releases and recovery read both
layouts, and this only reports how many are left.
"""

from typing import Any

from django.core.management.base import BaseCommand

from dispatches import claim_queue
from outpost_admin.dynamo.tables import create_tables
from tenants import counters


class Command(BaseCommand):
    help = "Bring items an earlier version wrote into today's layout (safe to run again)."

    def handle(self, *args: Any, **options: Any) -> None:
        # Tables and indexes a newer version added (the webhooks table, webhook-outbox-index
        # on the dispatches): create_tables adds what is missing and changes nothing else.
        create_tables(log=lambda line: self.stdout.write(line))
        old = counters.old_layout_slots()
        self.stdout.write(f"slot markers: {old} left in the single SLOTS partition (they drain)")
        listed = claim_queue.queue_unlisted()
        self.stdout.write(f"claim queue: {listed} waiting dispatch(es) listed")
