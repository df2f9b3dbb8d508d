from typing import Any

from django.core.management.base import BaseCommand

from outpost_admin.dynamo.tables import create_tables


class Command(BaseCommand):
    help = "Create the DynamoDB tables, indexes and TTL settings that are missing (safe to re-run)."

    def handle(self, *args: Any, **options: Any) -> None:
        create_tables(log=self.stdout.write)
        self.stdout.write("tables ready")
