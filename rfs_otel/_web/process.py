"""This process's start time, CPU share and resident memory, for the dashboard's system block.

The start time is the kernel's (Linux ``/proc/self/stat`` with ``/proc/stat``'s boot time, else psutil when
installed), so uptime counts from the process start, not from when a dashboard was made; where neither is
available it falls back to the moment ``rfs_otel`` was first imported (the documented lower bound). ``/proc`` comes
first because it needs no import: a forked child asks again (its own start time), and importing psutil there could
wait forever on the module lock of an import another parent thread was in the middle of at the fork. For the same
reason ``/proc`` is read as bytes: a text read looks its codec up, whose first use imports ``encodings.ascii``.
"""

from __future__ import annotations

import importlib
import os
import time

try:
    import resource
except ImportError:  # Windows: no getrusage, and no /proc either
    resource = None  # type: ignore[assignment]

__all__ = ["IMPORTED_AT", "ProcessStats", "process_start_time"]

#: When this module (so the ``rfs_otel`` package) was first imported: the fallback process start time.
IMPORTED_AT = time.time()

_started: dict[int, float] = {}


def _from_psutil() -> float | None:
    try:
        psutil = importlib.import_module("psutil")  # optional (the ``system`` extra)
    except ImportError:
        return None
    try:
        return float(psutil.Process().create_time())
    except Exception:  # psutil raises its own error types on odd platforms: fall back to /proc
        return None


def _from_proc() -> float | None:
    """Linux: the start time in clock ticks after boot (``/proc/self/stat`` field 22) plus the boot time."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()  # the command name may hold spaces and ")"
        with open("/proc/stat", "rb") as handle:
            boot = next(float(line.split()[1]) for line in handle if line.startswith(b"btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def process_start_time() -> float:
    """Unix time this process started: ``/proc``, else psutil, else when ``rfs_otel`` was imported."""
    pid = os.getpid()  # a forked child started later than its parent: looked up per process
    started = _started.get(pid)
    if started is None:
        started = _from_proc() or _from_psutil() or IMPORTED_AT
        _started.clear()
        _started[pid] = started
    return started


class ProcessStats:
    """CPU share and resident memory of this process, without psutil (Linux /proc, else getrusage)."""

    def __init__(self) -> None:
        self._last = (time.monotonic(), time.process_time())

    def cpu_percent(self) -> float:
        now, cpu = time.monotonic(), time.process_time()
        then, cpu_then = self._last
        self._last = (now, cpu)
        return 100.0 * (cpu - cpu_then) / (now - then) if now > then else 0.0

    @staticmethod
    def memory_bytes() -> float:
        try:
            with open("/proc/self/statm", "rb") as handle:
                return float(int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, IndexError):
            if resource is None:
                return 0.0
            return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
