"""`manage.py upgrade_layout`: bring items written by an earlier version into today's layout.

Safe to run again (every write is conditional) and while workers run. `make run` runs it at
start; in production run it once after `create_tables` when upgrading, and again once no
process of the earlier version runs any more. Slot markers of the single `SLOTS` partition
(before issue 13) are not moved: releases and recovery read both layouts, and this only
reports how many are left.

The write-sharded indexes (issue 13) are added in this order, so that no reader ever sees
an index that misses items: (1) the new key attributes are written onto existing items
(a Scan each: an operator's command, never a request path), (2) the index is added and
DynamoDB builds it, (3) the attributes are written again onto what older processes wrote
meanwhile, (4) the index it replaces is dropped (not with `--keep-old-indexes`). Until (2)
has finished, readers get IndexMissing from the new index and read the old one.
"""

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand

from dispatches import claim_queue, history_index
from outpost_admin.audit.storage import audit_backfill
from outpost_admin.dynamo.tables import (
    AUDIT,
    DISPATCHES,
    RETIRED,
    TENANTS,
    Table,
    add_index,
    create_tables,
    drop_index,
    index_states,
)
from tenants import counters
from tenants import storage as tenant_storage

BACKFILLS: dict[str, Callable[[], int]] = {
    "audit-time-index": audit_backfill,
    history_index.INDEX: history_index.backfill,
}


class Command(BaseCommand):
    help = "Bring items an earlier version wrote into today's layout (safe to run again)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--keep-old-indexes",
            action="store_true",
            help="Keep the indexes the sharded ones replace (while older versions still run).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        old = counters.old_layout_slots()
        self.stdout.write(f"slot markers: {old} left in the single SLOTS partition (they drain)")
        listed = claim_queue.queue_unlisted()
        self.stdout.write(f"claim queue: {listed} waiting dispatch(es) listed")
        moved = tenant_storage.key_lists_move()
        self.stdout.write(f"key lists: {moved} tenant(s) moved off the tenant item")
        operators = tenant_storage.operator_keys_list()
        self.stdout.write(f"operator keys: {operators} listed for the Operator keys page")
        for table in (TENANTS, AUDIT, DISPATCHES):
            self._indexes(table, keep_old=options["keep_old_indexes"])
        # Tables and indexes a newer version added that need no backfill (the webhooks
        # table, webhook-outbox-index): create_tables adds what is missing, nothing else.
        create_tables(log=lambda line: self.stdout.write(line))

    def _indexes(self, table: Table, *, keep_old: bool) -> None:
        states = index_states(table)
        retired = [name for name, new in RETIRED.items() if name in states]
        for index in table.indexes:
            missing = index.name not in states
            backfill = BACKFILLS.get(index.name)
            if backfill and (missing or any(RETIRED[name] == index.name for name in retired)):
                self.stdout.write(f"{index.name}: {backfill()} item(s) given its key")
            if missing:
                add_index(table, index, self.stdout.write)
                if backfill:
                    self.stdout.write(f"{index.name}: {backfill()} more written meanwhile")
        states = index_states(table)
        for name in retired:
            if not keep_old and states.get(RETIRED[name]) == "ACTIVE":
                drop_index(table, name, self.stdout.write)
