"""`make run`: DynamoDB Local, tables, migrations, an admin login, a worker and gunicorn."""

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from dispatches.demo import demo_agent_commands
from outpost_admin.dynamo import local, reset_client


class Command(BaseCommand):
    help = (
        "Run the whole app locally on 127.0.0.1:$PORT with DynamoDB Local on $DYNAMODB_LOCAL_PORT."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # Ctrl-C (SIGINT) and SIGTERM both stop everything, even when started in the background.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        port = settings.DYNAMODB_LOCAL_PORT
        endpoint = f"http://127.0.0.1:{port}"
        os.environ["DYNAMODB_ENDPOINT_URL"] = endpoint
        settings.DYNAMODB_ENDPOINT_URL = endpoint
        reset_client()
        try:
            store = local.start(port=port, db_path=Path(settings.VAR_DIR) / "dynamodb")
        except local.LocalStoreError as exc:
            raise CommandError(str(exc)) from exc
        children: list[subprocess.Popen[bytes]] = [store]
        try:
            self._prepare()
            children += self._serve()
            self.stdout.write(
                f"Outpost Admin on http://127.0.0.1:{os.environ.get('PORT', '8000')} (Ctrl-C stops)"
            )
            children[-1].wait()
        except KeyboardInterrupt:
            self.stdout.write("stopping")
        finally:
            # The store goes last, so the worker can hand its slots back on the way out.
            for child in reversed(children):
                child.terminate()
                child.wait(timeout=30)

    def _prepare(self) -> None:
        call_command("create_tables")
        call_command("migrate", interactive=False, verbosity=0)
        self._ensure_admin()

    def _ensure_admin(self) -> None:
        users = get_user_model()
        password = os.environ.get("OUTPOST_ADMIN_PASSWORD")
        admin = users.objects.filter(username="admin").first()
        if admin is None:
            shown = password or secrets.token_urlsafe(12)
            users.objects.create_superuser("admin", "admin@localhost", shown)
            if password:
                self.stdout.write("created staff user admin (password from OUTPOST_ADMIN_PASSWORD)")
            else:
                self.stdout.write(f"created staff user admin with password: {shown}  (shown once)")
        elif password and not admin.check_password(password):
            admin.set_password(password)
            admin.save(update_fields=["password"])
            self.stdout.write("updated the password of admin from OUTPOST_ADMIN_PASSWORD")

    def _serve(self) -> list[subprocess.Popen[bytes]]:
        python = sys.executable
        env = {**os.environ}
        # A stand-in for each agent so a dispatch on a fresh machine runs to success.
        env.setdefault("OUTPOST_AGENT_COMMANDS", demo_agent_commands(python))
        children = []
        if (
            Path(settings.BASE_DIR) / "dispatches" / "management" / "commands" / "run_worker.py"
        ).exists():
            # Drain well inside the 30 s that stopping waits for each child.
            worker = [python, "manage.py", "run_worker", "--drain-seconds", "10"]
            children.append(subprocess.Popen(worker, env=env))
        bind = f"127.0.0.1:{os.environ.get('PORT', '8000')}"
        gunicorn = [
            python,
            "-m",
            "gunicorn",
            "outpost_admin.wsgi",
            "--bind",
            bind,
            "--workers",
            "2",
        ]
        children.append(subprocess.Popen(gunicorn, env=env))
        return children
