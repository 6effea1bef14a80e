"""What tests that fork worker processes share."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest

# These tests fork worker processes from a process where the library's background threads run (a pre-fork
# server's situation): Python 3.12+ warns about any such fork. The library replaces its locks and per-thread
# state in the child (os.register_at_fork; see docs/operations.md, "Fork safety"), which is what lets the
# children here record and export; the warning is expected.
FORK_WARNING = pytest.mark.filterwarnings("ignore:This process .*is multi-threaded:DeprecationWarning")

#: Seconds before a forked child that is stuck dies of SIGALRM (exit status -14).
CHILD_ALARM = 10


def run_child(body: Callable[[], bool]) -> None:
    """In a forked child: run ``body`` under an alarm; exit 0 if it returned True, 3 if not, 4 if it raised."""
    code = 4
    try:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)  # a stuck child dies even inside a C lock wait
        signal.alarm(CHILD_ALARM)
        code = 0 if body() else 3
    finally:
        os._exit(code)


def fork_child(child: Callable[[], bool] = lambda: True) -> tuple[int, float]:
    """Fork a child running ``child()`` under an alarm (exit 0 if it returned True); its exit status, fork time."""
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        run_child(child)
    forked = time.monotonic() - started
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), forked
