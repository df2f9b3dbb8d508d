import signal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from outpost_admin.dynamo import local


class Command(BaseCommand):
    help = "Run DynamoDB Local in the foreground (data in var/dynamodb unless --in-memory)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=settings.DYNAMODB_LOCAL_PORT)
        parser.add_argument("--in-memory", action="store_true")

    def handle(self, *args: Any, port: int, in_memory: bool, **options: Any) -> None:
        db_path = None if in_memory else Path(settings.VAR_DIR) / "dynamodb"
        try:
            process = local.start(port=port, db_path=db_path)
        except local.LocalStoreError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"DynamoDB Local on http://127.0.0.1:{port}")
        signal.signal(signal.SIGTERM, lambda *_: process.terminate())
        try:
            process.wait()
        except KeyboardInterrupt:
            process.terminate()
            process.wait()
