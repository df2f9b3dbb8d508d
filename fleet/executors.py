"""Executors run one dispatch each. The local one: a subprocess per dispatch, output to DynamoDB.

The worker owns the dispatch lifecycle; an executor only runs the command and reports how it
ended. While it runs it calls `check()` about once a second, and stops the process when that
answers with a reason (the dispatch was cancelled, or the worker is shutting down).
"""

import codecs
import contextlib
import logging
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import IO, Protocol, runtime_checkable

from django.conf import settings

from dispatches import lifecycle, selectors
from dispatches.agents import agent_commands
from dispatches.costs import OutputMeter, Tokens
from dispatches.domain import BRANCH_PATTERN, REPO_PATTERN, Dispatch, log_pieces
from outpost_admin.dynamo import Conflict, StoreError
from outpost_admin.processes import dying_with_parent

logger = logging.getLogger(__name__)

TRUNCATED_MARKER = "\n[output truncated]\n"
_PLACEHOLDER = re.compile(r"\{(task|repo|branch|model|task_file)\}")
_TASK_FILE = "{task_file}"
_REPO, _BRANCH = re.compile(REPO_PATTERN), re.compile(BRANCH_PATTERN)
# The worker's own configuration and credentials are not the agent's business.
_PRIVATE_ENV = ("AWS_", "DYNAMODB_", "DJANGO_", "OUTPOST_", "DATABASE_URL", "SECRET_KEY")


class StopReason(StrEnum):
    CANCELLED = "cancelled"  # it became terminal under us: whoever did that wrote the status
    LOST = "lost"  # it is no longer ours (re-queued by reconcile): leave it to its new owner
    SHUTDOWN = "shutdown"  # the worker is stopping: hand it back
    DETACHED = "detached"  # it goes on without us (an ECS task): another worker adopts it


Check = Callable[[], StopReason | None]


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None = None
    timed_out: bool = False
    stopped: StopReason | None = None
    error: str = ""  # the command could not be started at all
    output_tail: str = ""
    tokens: Tokens | None = None  # counted from the output it wrote (dispatches.costs)
    resources: tuple[int, int] | None = None  # cpu units and MiB it had (ECS: the task's own)
    stop_reason: str = ""  # why ECS stopped the task, as it says it


class Executor(Protocol):
    def run(self, dispatch: Dispatch, *, check: Check) -> Outcome: ...


@runtime_checkable
class Adopting(Protocol):
    """An executor whose runs outlive the worker (ECS tasks): another worker can follow one."""

    def adopt(self, dispatch: Dispatch, *, check: Check) -> Outcome: ...


def default_executor() -> Executor:
    """The executor OUTPOST_EXECUTOR names: "local" (subprocesses) or "ecs" (Fargate tasks)."""
    if settings.OUTPOST_EXECUTOR == "ecs":
        from .executors_ecs import EcsExecutor  # here: executors_ecs imports this module

        return EcsExecutor()
    return LocalExecutor()


def command_for(dispatch: Dispatch, template: tuple[str, ...], *, task_file: str = "") -> list[str]:
    """Fill the placeholders of each argv item; values are never re-scanned, nor shell-parsed.
    The template was checked at start-up (agents.py): a placeholder that starts an item comes
    after "--", where no value is read as an option."""
    fields = {
        "task": dispatch.task,
        "repo": dispatch.repo,
        "branch": dispatch.branch,
        "model": dispatch.model_id,
        "task_file": task_file,
    }
    return [_PLACEHOLDER.sub(lambda m: fields[m.group(1)], item) for item in template]


def unsafe_inputs(dispatch: Dispatch) -> str:
    """Why a dispatch's repo or branch may not reach a command ("" when they may): the API
    refuses such values; this stops a record written before it did, or by another writer."""
    if dispatch.repo and not _REPO.fullmatch(dispatch.repo):
        return f"Refused to run: the repo {dispatch.repo[:100]!r} is not owner/name."
    if dispatch.branch and not _BRANCH.fullmatch(dispatch.branch):
        return f"Refused to run: the branch {dispatch.branch[:100]!r} is not a valid branch name."
    return ""


def _task_file(dispatch: Dispatch, folder: str) -> str:
    """The task in a file only this user can read, for agents that take a prompt file."""
    path = os.path.join(folder, "task.txt")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(dispatch.task)
    return path


def child_env(dispatch: Dispatch) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_ENV)}
    env.update(
        DISPATCH_ID=dispatch.dispatch_id,
        AGENT_TYPE=dispatch.agent,
        MODEL_ID=dispatch.model_id,
        TASK=dispatch.task,
        # Every process of the run inherits these, so what is left of it can be found.
        OUTPOST_WORKER_ID=dispatch.worker_id,
        REPO_URL=f"https://github.com/{dispatch.repo}" if dispatch.repo else "",
        TIMEOUT_SECONDS=str(dispatch.timeout_seconds),
    )
    return env


# --- output capture -----------------------------------------------------------------


class OutputBuffer:
    """Bytes the reader thread collected and the runner has not stored yet, bounded in total,
    with when each line in them began (epoch ms)."""

    def __init__(self, max_bytes: int):
        self._max = max_bytes
        self._lock = threading.Lock()
        self._pending = bytearray()
        self._starts: list[int] = []
        self._at_line_start = True
        self._taken = 0
        self.truncated = False

    def feed(self, data: bytes, *, at_ms: int | None = None) -> None:
        """`at_ms`: when the bytes were written (CloudWatch's event time); now if not given."""
        at = at_ms if at_ms is not None else time.time_ns() // 1_000_000
        with self._lock:
            room = max(self._max - self._taken, 0)
            self._add(data[:room], at)
            self._taken += min(len(data), room)
            if len(data) > room and not self.truncated:
                self.truncated = True
                self._add(TRUNCATED_MARKER.encode(), at)

    def _add(self, data: bytes, at: int) -> None:
        if not data:
            return
        begun = data.count(b"\n") - data.endswith(b"\n") + self._at_line_start
        self._starts += [at] * begun
        self._at_line_start = data.endswith(b"\n")
        self._pending += data

    def size(self) -> int:
        with self._lock:
            return len(self._pending)

    def take(self) -> tuple[bytes, list[int]]:
        """The bytes, and the start times of the lines begun in them."""
        with self._lock:
            data, self._pending = bytes(self._pending), bytearray()
            starts, self._starts = self._starts, []
            return data, starts


class LogWriter:
    """Stores captured output as numbered chunks: every ~1 s, or sooner when a chunk fills.
    Each chunk carries when each of its lines began (domain.log_pieces: one time a piece)."""

    def __init__(self, dispatch: Dispatch, *, max_bytes: int, chunk_bytes: int, every: float):
        self.dispatch = dispatch
        self.buffer = OutputBuffer(max_bytes)
        self.chunk_bytes, self.every = chunk_bytes, every
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._last_flush = time.monotonic()
        self._seq = _next_seq(dispatch.dispatch_id)
        self._starts: deque[int] = deque()  # times of lines begun but not stored yet
        self._line_at = 0  # when the line the last chunk left open began
        self._open = False  # the last chunk ended mid-line
        self.tail = ""
        self.meter = OutputMeter()  # what pricing needs of the whole output

    def flush_if_due(self) -> None:
        size = self.buffer.size()
        if size >= self.chunk_bytes or (size and time.monotonic() - self._last_flush >= self.every):
            self.flush()

    def flush(self, *, final: bool = False) -> None:
        self._last_flush = time.monotonic()
        data, starts = self.buffer.take()
        self._starts.extend(starts)
        text = self._decoder.decode(data, final=final)
        self.tail = (self.tail + text)[-500:]
        self.meter.feed(text)
        for start in range(0, len(text), self.chunk_bytes):
            piece = text[start : start + self.chunk_bytes]
            self._append(piece, self._times(piece))

    def _times(self, text: str) -> list[int]:
        """When each piece of the text began: a line its start, a continued line the start of
        the line it continues. (A start the decoder has not given the text of yet waits.)"""
        times = []
        for piece in log_pieces(text):
            if not self._open:
                self._line_at = (
                    self._starts.popleft() if self._starts else time.time_ns() // 1_000_000
                )
            times.append(self._line_at)
            self._open = not piece.endswith("\n")
        return times

    def _append(self, text: str, line_times: list[int]) -> None:
        for _ in range(3):
            try:
                lifecycle.log_append(self.dispatch, seq=self._seq, text=text, line_times=line_times)
                self._seq += 1
                return
            except Conflict:  # an earlier run of this (re-queued) dispatch wrote this seq
                self._seq += 1
            except StoreError as exc:
                logger.warning(
                    "dispatch %s: dropped a log chunk: %s", self.dispatch.dispatch_id, exc
                )
                return


def _next_seq(dispatch_id: str) -> int:
    last = selectors.log_tail(dispatch_id=dispatch_id, chunks=1)
    return last[-1].seq + 1 if last else 0


def _pump(stream: IO[bytes], buffer: OutputBuffer) -> None:
    """The reader thread: read until EOF so the child never blocks on a full pipe."""
    while data := os.read(stream.fileno(), 65536):
        buffer.feed(data)
    stream.close()


# --- the local executor ---------------------------------------------------------------


class LocalExecutor:
    def __init__(
        self,
        *,
        commands: dict[str, tuple[str, ...]] | None = None,
        log_max_bytes: int | None = None,
        chunk_bytes: int = 8192,
        flush_seconds: float = 1.0,
        check_seconds: float = 1.0,
        grace_seconds: float = 3.0,
    ):
        self.commands = commands
        self.log_max_bytes = log_max_bytes or settings.OUTPOST_LOG_MAX_BYTES
        self.chunk_bytes, self.flush_seconds = chunk_bytes, flush_seconds
        self.check_seconds, self.grace_seconds = check_seconds, grace_seconds

    def run(self, dispatch: Dispatch, *, check: Check) -> Outcome:
        template = (self.commands or agent_commands()).get(dispatch.agent)
        if not template:
            return Outcome(error=f"The agent {dispatch.agent} is not available on this worker.")
        if refused := unsafe_inputs(dispatch):
            return Outcome(error=refused)
        with tempfile.TemporaryDirectory(prefix="outpost-") as scratch:
            task_file = _task_file(dispatch, scratch) if _TASK_FILE in "".join(template) else ""
            return self._run_command(
                dispatch, command_for(dispatch, template, task_file=task_file), check
            )

    def _run_command(self, dispatch: Dispatch, argv: list[str], check: Check) -> Outcome:
        log = LogWriter(
            dispatch,
            max_bytes=self.log_max_bytes,
            chunk_bytes=self.chunk_bytes,
            every=self.flush_seconds,
        )
        try:
            process = self._start(dispatch, argv)
        except OSError as exc:
            return Outcome(error=f"Could not start {argv[0]}: {exc}")
        assert process.stdout is not None
        reader = threading.Thread(target=_pump, args=(process.stdout, log.buffer), daemon=True)
        reader.start()
        outcome = self._supervise(process, dispatch, check, log)
        _signal_group(process, signal.SIGKILL)  # leftovers that still hold the pipe open
        reader.join(timeout=5)
        log.flush(final=True)
        return replace(outcome, output_tail=log.tail, tokens=log.meter.tokens(dispatch.agent))

    def _start(self, dispatch: Dispatch, argv: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=child_env(dispatch),
            start_new_session=True,  # its own process group, so a stop reaches its children
            # Killed by the kernel if this worker dies, so it never runs on unrecorded.
            preexec_fn=dying_with_parent(signal.SIGKILL),
        )

    def _supervise(
        self, process: subprocess.Popen[bytes], dispatch: Dispatch, check: Check, log: LogWriter
    ) -> Outcome:
        deadline = time.monotonic() + dispatch.timeout_seconds
        next_check = time.monotonic() + self.check_seconds
        while not _exited(process, 0.1):
            log.flush_if_due()
            now = time.monotonic()
            if now >= deadline:
                self._stop(process)
                return Outcome(timed_out=True)
            if now >= next_check:
                next_check = now + self.check_seconds
                if reason := check():
                    self._stop(process)
                    return Outcome(stopped=reason)
        return Outcome(exit_code=process.returncode)

    def _stop(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM to the whole group, SIGKILL after a short grace."""
        _signal_group(process, signal.SIGTERM)
        if not _exited(process, self.grace_seconds):
            _signal_group(process, signal.SIGKILL)
            process.wait()


def _exited(process: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
