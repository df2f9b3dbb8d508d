"""The app served by gunicorn in another process, against the suite's DynamoDB Local."""

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings

from fleet.management.commands.run_local import gunicorn_command
from outpost_admin.dynamo import local

# Every agent runnable, so a create is refused only for what the request or tenant says.
AGENT_COMMANDS = json.dumps({a: ["true"] for a in ("claude", "codex", "gemini", "aider", "grok")})


@contextmanager
def app_server(
    endpoint: str, var_dir: Path, *, one_process: bool = True, **env: str
) -> Iterator[str]:
    """Start gunicorn as `make run` does on a free port (in one process with 4 threads unless
    one_process is False); yield its base URL; stop it afterwards."""
    port = local.free_port()
    environment = {
        **os.environ,
        "DYNAMODB_ENDPOINT_URL": endpoint,
        "DJANGO_SECRET_KEY": "test-only",
        "OUTPOST_VAR_DIR": str(var_dir),
        "DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}",
        "OUTPOST_AGENT_COMMANDS": AGENT_COMMANDS,
        "LOG_LEVEL": "WARNING",
        **env,
    }
    command = gunicorn_command(port)  # flags given after the config file override it
    command += ["--workers", "1", "--threads", "4"] if one_process else []
    server = subprocess.Popen(command, cwd=settings.BASE_DIR, env=environment)
    try:
        _wait_for(port, server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_for(port: int, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until /health/live answers: a worker has booted and built its store client."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer on port {port} within {timeout}s")


def http(
    base: str, method: str, path: str, *, key: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    """One JSON request; returns the status and the decoded body."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("X-API-Key", key)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
