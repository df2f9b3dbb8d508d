"""`make run`: DynamoDB Local, tables, migrations, an admin login, recovery, a worker and gunicorn.

Every child runs in a session of its own, so the terminal's Ctrl-C reaches only this launcher,
which then stops them in order: the web server first (no new work comes in), then the worker
(it finishes or hands back its dispatches, which needs the store), DynamoDB Local last.
"""

import io
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from fleet import recovery as reconcile
from fleet.demo import demo_agent_commands
from outpost_admin.dynamo import local, reset_client
from outpost_admin.processes import dying_with_parent

STOP_SECONDS = 30.0  # each child's time to stop after SIGTERM, on top of the worker's drain
WORKER = "the worker"
RESTART_DELAYS = (1, 2, 5, 10, 30)  # seconds before the worker's 1st, 2nd, ... restart
STEADY_SECONDS = 60.0  # a worker that ran this long before dying starts the back-off over


def make_run_worker_id() -> str:
    """The same id on every run, so the next start knows whose dispatches were interrupted."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{socket.gethostname()}-make-run")


def gunicorn_command(port: int | str) -> list[str]:
    """gunicorn as `make run` starts it (the bench and the outage tests too): the worker class,
    workers and threads of gunicorn.conf.py, chosen by `make bench` (README, "Speed")."""
    config = str(Path(settings.BASE_DIR) / "gunicorn.conf.py")
    bind = f"127.0.0.1:{port}"
    return [sys.executable, "-m", "gunicorn", "outpost_admin.wsgi", "--bind", bind, "-c", config]


class Command(BaseCommand):
    help = (
        "Run the whole app locally on 127.0.0.1:$PORT with DynamoDB Local on $DYNAMODB_LOCAL_PORT."
    )

    _drain_seconds = 0.0

    def handle(self, *args: Any, **options: Any) -> None:
        # Ctrl-C (SIGINT) and SIGTERM both stop everything, even when started in the background.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        children: list[tuple[str, subprocess.Popen[bytes]]] = []
        try:
            children.append(("DynamoDB Local", self._start_store()))
            self._prepare()
            self._recover()
            env = self._child_env()
            children.append((WORKER, self._start_worker(env)))
            web = self._start_web(env)
            children.append(("the web server", web))
            url = f"http://127.0.0.1:{self._port()}"
            self._wait_until_serving(url, web)
            self._say(f"serving on {url} (Ctrl-C stops)")
            self._supervise(children, env)
        except KeyboardInterrupt:
            self._say("stopping")
        finally:
            for name, child in reversed(children):
                self._stop(name, child)

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def _port(self) -> str:
        return os.environ.get("PORT", "8000")

    # --- starting -----------------------------------------------------------------------

    def _start_store(self) -> subprocess.Popen[bytes]:
        port = settings.DYNAMODB_LOCAL_PORT
        endpoint = f"http://127.0.0.1:{port}"
        os.environ["DYNAMODB_ENDPOINT_URL"] = endpoint
        settings.DYNAMODB_ENDPOINT_URL = endpoint
        reset_client()
        db_path = Path(settings.VAR_DIR) / "dynamodb"
        self._say(f"starting DynamoDB Local on port {port} (data in {db_path})")
        try:
            store = local.start(port=port, db_path=db_path, new_session=True)
        except local.LocalStoreError as exc:
            raise CommandError(str(exc)) from exc
        self._say(f"started DynamoDB Local (pid {store.pid})")
        return store

    def _prepare(self) -> None:
        self._say("creating tables and applying migrations")
        call_command("create_tables", verbosity=0)
        upgrade = io.StringIO()  # items and indexes an earlier version left
        call_command("upgrade_layout", stdout=upgrade)
        for line in upgrade.getvalue().splitlines():
            self._say(line)
        call_command("migrate", interactive=False, verbosity=0)
        self._ensure_admin()

    def _recover(self) -> None:
        """Before the worker claims anything: what the last run left RUNNING, and the counters.
        (The worker itself, starting under the same id, also recovers what it left.)"""
        report = reconcile.recover_worker(make_run_worker_id(), requeue=True)
        reconcile.recover_orphans(report, requeue=True)
        reconcile.recount_concurrency(report)
        if report.requeued or report.repaired:
            self._say(
                f"recovered {len(report.requeued)} dispatch(es) left running by the last run "
                f"(queued again), repaired {len(report.repaired)} tenant counter(s)"
            )

    def _ensure_admin(self) -> None:
        users = get_user_model()
        password = os.environ.get("OUTPOST_ADMIN_PASSWORD")
        admin = users.objects.filter(username="admin").first()
        if admin is None:
            shown = password or secrets.token_urlsafe(12)
            users.objects.create_superuser("admin", "admin@localhost", shown)
            if password:
                self._say("created staff user admin (password from OUTPOST_ADMIN_PASSWORD)")
            else:
                self._say(f"created staff user admin with password: {shown}  (shown once)")
        elif password and not admin.check_password(password):
            admin.set_password(password)
            admin.save(update_fields=["password"])
            self._say("updated the password of admin from OUTPOST_ADMIN_PASSWORD")
        elif not password:
            # Its password was shown once, on the first run: say how to get back in.
            self._say(
                "staff user admin exists (its password was shown on the first run); to reset "
                "it, run `.venv/bin/python manage.py changepassword admin`, or start with "
                "OUTPOST_ADMIN_PASSWORD set"
            )

    def _child_env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # A stand-in for each agent so a dispatch on a fresh machine runs to success.
        env.setdefault("OUTPOST_AGENT_COMMANDS", demo_agent_commands(sys.executable))
        env.setdefault("OUTPOST_WORKER_CONCURRENCY", "4")
        # Webhooks to a receiver on this machine (http, loopback) are allowed in development.
        env.setdefault("OUTPOST_WEBHOOK_ALLOW_PRIVATE", "true")
        # Drain well inside the time stopping waits for the worker.
        env.setdefault("OUTPOST_WORKER_DRAIN_SECONDS", "10")
        self._drain_seconds = float(env["OUTPOST_WORKER_DRAIN_SECONDS"])
        return env

    def _start_worker(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        self._say(
            f"starting a worker with {env['OUTPOST_WORKER_CONCURRENCY']} slot(s) "
            f"({env.get('OUTPOST_EXECUTOR', 'local')} executor)"
        )
        command = [sys.executable, "manage.py", "run_worker", "--worker-id", make_run_worker_id()]
        # If this launcher is killed, the worker dies with it (and its agents with the worker):
        # an orphaned worker would run on while the next `make run` queues its work again.
        worker = subprocess.Popen(
            command,
            env=env,
            start_new_session=True,
            preexec_fn=dying_with_parent(signal.SIGKILL),
        )
        self._say(f"started the worker (pid {worker.pid})")
        return worker

    def _start_web(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        self._say("starting the web server")
        web = subprocess.Popen(
            gunicorn_command(self._port()),
            env=env,
            start_new_session=True,
            preexec_fn=dying_with_parent(signal.SIGTERM),
        )
        self._say(f"started the web server (pid {web.pid})")
        return web

    def _wait_until_serving(
        self, url: str, web: subprocess.Popen[bytes], timeout: float = 60
    ) -> None:
        """Poll until the server answers, so "serving on" is only printed when it is true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if web.poll() is not None:
                raise CommandError(f"the web server exited with code {web.returncode}")
            try:
                with urllib.request.urlopen(f"{url}/health/live", timeout=1):  # noqa: S310
                    return
            except urllib.error.HTTPError:
                return  # it answered, even if not with 200
            except OSError:
                time.sleep(0.2)
        raise CommandError(f"the web server did not answer on {url} within {timeout:.0f} s")

    # --- supervising --------------------------------------------------------------------

    def _supervise(
        self, children: list[tuple[str, subprocess.Popen[bytes]]], env: dict[str, str]
    ) -> None:
        """Until the web server exits: a worker that dies is started again, after a delay
        that grows while it keeps dying. The new worker (same id) stops what is left of the
        old one's agents and queues its dispatches again before it claims anything."""
        web = children[-1][1]
        at = [name for name, _ in children].index(WORKER)
        restarts, started = 0, time.monotonic()
        while web.poll() is None:
            worker = children[at][1]
            if worker.poll() is None:
                time.sleep(0.5)
                continue
            if time.monotonic() - started >= STEADY_SECONDS:
                restarts = 0
            delay = RESTART_DELAYS[min(restarts, len(RESTART_DELAYS) - 1)]
            self._say(
                f"{WORKER} exited ({_exit_text(worker.returncode)}); "
                f"restarting it in {delay} s (restart {restarts + 1})"
            )
            time.sleep(delay)
            children[at] = (WORKER, self._start_worker(env))
            restarts, started = restarts + 1, time.monotonic()

    # --- stopping -----------------------------------------------------------------------

    def _stop(self, name: str, child: subprocess.Popen[bytes]) -> None:
        """SIGTERM and wait; another Ctrl-C meanwhile presses on (the worker hands back at once)."""
        if child.poll() is not None:
            self._say(f"{name} had already stopped")
            return
        self._say(f"stopping {name}")
        child.terminate()
        limit = STOP_SECONDS + (self._drain_seconds if name == WORKER else 0)
        deadline = time.monotonic() + limit
        while child.poll() is None:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
            except KeyboardInterrupt:
                child.terminate()
                deadline = min(deadline, time.monotonic() + STOP_SECONDS)
        self._say(f"{name} stopped")


def _exit_text(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"
