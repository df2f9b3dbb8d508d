"""Child processes that cannot outlive their parent, and finding what is left of them.

Two mechanisms, because each covers what the other cannot:

- The kernel's parent-death signal (Linux `prctl(PR_SET_PDEATHSIG)`): set in the child between
  fork and exec, it is delivered however the parent dies, SIGKILL included, with nobody left
  to clean up. `make run` gives it to its children, and a worker to each agent it starts.
  It reaches only the direct child: an agent's own children (git, node) are reparented.
- The environment: every process an agent starts inherits `DISPATCH_ID` and
  `OUTPOST_WORKER_ID`, so whatever is left of a run on this host is found in /proc and
  stopped (`kill_where_env`) before its dispatch is queued again or failed.

A process group killed by a supervisor was the alternative; it fails exactly when the
supervisor is what died (a SIGKILLed `make run`), and agents run in groups of their own so
that cancelling one dispatch stops only its processes.
"""

import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def dying_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child receive `sig` when the thread that started it dies
    (a worker's dispatch thread, which waits for its agent; `make run`'s main thread).
    None where the kernel has no such signal."""
    if _prctl is None:
        return None
    parent = os.getpid()
    prctl = _prctl  # resolved before fork: the child only makes the system call

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig))
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return preexec


def pids_where_env(name: str, value: str) -> list[int]:
    """Processes on this host whose environment has name=value (Linux /proc; [] elsewhere)."""
    wanted = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc/self").exists() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def kill_where_env(name: str, value: str, *, wait: float = 5.0) -> int:
    """SIGKILL every process whose environment has name=value and wait until they are gone;
    returns how many there were."""
    pids = pids_where_env(name, value)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + wait
    while (left := [p for p in pids if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pids:
        logger.warning("stopped %d leftover process(es) with %s=%s", len(pids), name, value)
    if left:
        logger.error("processes %s with %s=%s did not stop", left, name, value)
    return len(pids)


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for its parent to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")
