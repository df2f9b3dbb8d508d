"""The host and this process, as the control plane's /health/fleet `system` reports them.

Its numbers come from Node (`os.totalmem/freemem/cpus`, `process.memoryUsage`); ours from
Linux's /proc, read without a dependency. Where /proc is missing (macOS in development) the
host's numbers are 0. Python has no V8 heap: `heapUsedMB` is this process's resident memory
now and `heapTotalMB` the most it has held (its peak RSS).
"""

import os
import resource
import sys
from pathlib import Path

MB = 1024 * 1024


def system() -> dict[str, int]:
    total, available = _memory()
    used = total - available
    rss, peak = _process_memory()
    return {
        "cpuUsagePercent": _cpu_percent(),
        "memoryUsagePercent": round(used * 100 / total) if total else 0,
        "memoryUsedMB": round(used / MB),
        "memoryTotalMB": round(total / MB),
        "heapUsedMB": round(rss / MB),
        "heapTotalMB": round(peak / MB),
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _memory() -> tuple[int, int]:
    """Total and available bytes (Node's freemem is MemAvailable on Linux)."""
    fields = {}
    for line in _read("/proc/meminfo").splitlines():
        name, _, rest = line.partition(":")
        fields[name] = int(rest.split()[0]) * 1024 if rest.split() else 0
    return fields.get("MemTotal", 0), fields.get("MemAvailable", fields.get("MemFree", 0))


def _cpu_percent() -> int:
    """Busy share of every core's time since boot, as the control plane computes it from
    os.cpus(): 100 - idle / total."""
    first = _read("/proc/stat").splitlines()[:1]
    times = [int(n) for n in first[0].split()[1:]] if first else []
    total = sum(times)
    return round(100 - times[3] * 100 / total) if total and len(times) > 3 else 0


def _process_memory() -> tuple[int, int]:
    pages = _read("/proc/self/statm").split()
    rss = int(pages[1]) * os.sysconf("SC_PAGE_SIZE") if len(pages) > 1 else 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak *= 1 if sys.platform == "darwin" else 1024  # bytes on macOS, kilobytes on Linux
    return rss, max(rss, peak)
