"""`make run`'s launcher as an operator uses it: Ctrl-C in the terminal, a crash, a restart.

The launcher runs as a subprocess in a process group of its own (the test plays the terminal),
with its own DynamoDB Local on disk in a temporary var dir, free ports and a demo agent that
is slow on its first run of a dispatch and quick on the next one.
"""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from outpost_admin.dynamo import local

SLOW_ONCE = """
import os, sys, time
marker = os.path.join({markers!r}, os.environ["DISPATCH_ID"])
if os.path.exists(marker):
    print("second run: done", flush=True)
    sys.exit(0)
with open(marker, "w") as f:
    f.write(str(os.getpid()))  # for the test's clean-up: a crashed worker leaves it behind
print("first run: working slowly", flush=True)
time.sleep(600)
"""


class Launcher:
    """`manage.py run_local` in its own process group, its output collected line by line."""

    def __init__(self, env: dict[str, str]):
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run_local"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip())

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if found := re.search(pattern, line):
                    return found
            if self.process.poll() is not None and not any(
                re.search(pattern, line) for line in list(self.lines)
            ):
                break
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))

    def pid_of(self, name: str) -> int:
        return int(self.wait_for(rf"started {name} \(pid (\d+)\)").group(1))

    def pids_of(self, name: str) -> list[int]:
        """Every pid it started under that name, a restarted worker's included."""
        self.pid_of(name)
        pattern = re.compile(rf"started {name} \(pid (\d+)\)")
        return [int(m.group(1)) for line in list(self.lines) if (m := pattern.search(line))]

    def ctrl_c(self) -> None:
        """What the terminal does on Ctrl-C: SIGINT to the whole foreground process group."""
        os.killpg(self.process.pid, signal.SIGINT)
        self.process.wait(timeout=120)

    def index(self, pattern: str) -> int:
        return next(i for i, line in enumerate(self.lines) if re.search(pattern, line))

    def cleanup(self) -> None:
        """If a test failed half-way: stop the launcher, then anything it started that is left."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
        for line in list(self.lines):
            if found := re.search(r"started .* \(pid (\d+)\)", line):
                _kill(int(found.group(1)))


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def launch(tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    web_port, store_port = local.free_port(), local.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYNAMODB_")}
    env.update(
        OUTPOST_VAR_DIR=str(tmp_path / "var"),
        PORT=str(web_port),
        DYNAMODB_LOCAL_PORT=str(store_port),
        OUTPOST_ADMIN_PASSWORD="pw-admin-1",
        OUTPOST_WORKER_DRAIN_SECONDS="1",
        OUTPOST_AGENT_COMMANDS=json.dumps(
            {"claude": [sys.executable, "-c", SLOW_ONCE.format(markers=str(markers))]}
        ),
    )
    started: list[Launcher] = []

    def start() -> Launcher:
        launcher = Launcher(env)
        started.append(launcher)
        launcher.wait_for(rf"serving on http://127\.0\.0\.1:{web_port}")
        return launcher

    start.web_port, start.store_port, start.env = web_port, store_port, env  # type: ignore[attr-defined]
    start.agent_pid = lambda dispatch_id: int((markers / dispatch_id).read_text())  # type: ignore[attr-defined]
    yield start
    for number, launcher in enumerate(started, start=1):
        launcher.cleanup()
        print(f"--- launcher {number}", *launcher.lines, sep="\n")  # shown when the test fails
    for marker in markers.iterdir():  # demo agents run in sessions of their own
        pid = marker.read_text().strip()
        with contextlib.suppress(OSError):  # ended already: its pid may be someone else's now
            if str(markers) in Path(f"/proc/{pid}/cmdline").read_text():
                _kill(int(pid))


def provision(launch) -> str:
    env = {**launch.env, "DYNAMODB_ENDPOINT_URL": f"http://127.0.0.1:{launch.store_port}"}
    out = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "provision_tenant",
            "Ops",
            f"ops-{uuid.uuid4().hex[:8]}@example.com",
            "free",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"OUTPOST_API_KEY=(\S+)", out)
    assert found, out
    return found.group(1)


def api(launch, key: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{launch.web_port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def create(launch, key: str) -> tuple[int, str]:
    body = {"agent": "claude", "task": "Fix the failing test in utils.py", "timeoutSeconds": 300}
    status, answer = api(launch, key, "POST", "/api/v1/dispatches", body)
    return status, (answer.get("data") or {}).get("dispatchId", "")


def wait_status(launch, key: str, dispatch_id: str, wanted: str) -> dict:
    """Poll the API until the dispatch has that status."""
    return wait_dispatch(launch, key, dispatch_id, lambda d: d["status"] == wanted, wanted)


def wait_started(launch, key: str, dispatch_id: str) -> dict:
    """Running, and the agent really started (it made its marker): only then is it interrupted."""
    return wait_dispatch(
        launch, key, dispatch_id, lambda d: "first run" in (d["logs"] or ""), "started"
    )


def wait_dispatch(launch, key, dispatch_id, predicate, wanted, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    data: dict = {}
    while time.monotonic() < deadline:
        _, answer = api(launch, key, "GET", f"/api/v1/dispatches/{dispatch_id}")
        data = answer["data"]
        if predicate(data):
            return data
        time.sleep(0.2)
    raise AssertionError(f"{dispatch_id} is {data.get('status')}, not {wanted}: {data}")


def test_ctrl_c_stops_in_order_a_dead_worker_restarts_and_a_killed_launcher_leaves_nothing(launch):
    first = launch()
    key = provision(launch)
    status, running = create(launch, key)  # the free tier: one dispatch at a time
    assert status == 201
    wait_started(launch, key, running)

    first.ctrl_c()

    assert first.process.returncode == 0
    order = [
        first.index("^stopping the web server$"),
        first.index("^the web server stopped$"),
        first.index("^stopping the worker$"),
        first.index(r"^worker .*: ran 0 dispatch\(es\), exiting$"),  # it handed the dispatch back
        first.index("^the worker stopped$"),
        first.index("^stopping DynamoDB Local$"),
        first.index("^DynamoDB Local stopped$"),
    ]
    assert order == sorted(order)
    assert not answers(launch.web_port) and not answers(launch.store_port)

    second = launch()
    # The worker handed the dispatch back while the store was still up: nothing to recover.
    assert not [line for line in second.lines if line.startswith("recovered")]
    done = wait_status(launch, key, running, "success")
    assert "second run: done" in done["logs"]
    status, crashed = create(launch, key)
    assert status == 201, "the handed-back dispatch gave its slot back when it finished"
    wait_started(launch, key, crashed)
    os.kill(second.pid_of("the worker"), signal.SIGKILL)  # a crash: the launcher restarts it
    second.wait_for(
        r"^the worker exited \(killed by SIGKILL\); restarting it in 1 s \(restart 1\)$"
    )
    done = wait_status(launch, key, crashed, "success")
    assert "second run: done" in done["logs"] and done["interruptions"] == 1
    assert len(second.pids_of("the worker")) == 2

    status, orphaned = create(launch, key)
    assert status == 201, "the interrupted dispatch's slot was released when it finished"
    wait_started(launch, key, orphaned)
    worker, agent = second.pids_of("the worker")[-1], launch.agent_pid(orphaned)
    web, store = second.pid_of("the web server"), second.pid_of("DynamoDB Local")
    os.kill(second.process.pid, signal.SIGKILL)  # make run itself: nobody is left to clean up
    second.process.wait(timeout=10)
    for pid in (worker, agent, web, store):  # each dies with its parent, by the kernel's signal
        wait_gone(pid)

    third = launch()
    recovered = third.index(r"^recovered 1 dispatch\(es\) left running by the last run")
    assert recovered < third.index("^starting a worker with 4 slot")
    done = wait_status(launch, key, orphaned, "success")
    assert "second run: done" in done["logs"] and done["interruptions"] == 1
    status, _ = create(launch, key)
    assert status == 201, "the orphaned dispatch's slot was released"
    third.ctrl_c()


def wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.1)
    raise AssertionError(f"process {pid} is still running")
