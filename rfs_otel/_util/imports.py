"""Imports other threads are in the middle of, so a fork can wait for them to finish.

A module another thread is importing when the process forks stays "being imported" in the child forever: its
per-module import lock belongs to a thread the child does not have, so the child's first ``import`` of it (any
code's, a codec lookup's) waits for good. CPython resets only its global import lock after a fork, not these, so
the forking thread waits (briefly) for them instead. They are read from ``importlib._bootstrap._module_locks``
(name -> weak reference to a lock whose ``owner`` is the importing thread's id, the same from 3.10 to 3.14); a
Python without that table just has no imports in flight to report.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

__all__ = ["held_elsewhere", "wait_for_imports"]

#: (lock id, owner) of imports a fork already waited the whole budget for: an import that never ends (a module
#: whose top level serves forever) delays one fork, not every fork.
_given_up: set[tuple[int, int]] = set()


def held_elsewhere() -> dict[str, tuple[int, int]]:
    """Modules another thread is importing now: name -> (lock id, owner thread id)."""
    locks: Any = getattr(sys.modules.get("importlib._bootstrap"), "_module_locks", None)
    if not isinstance(locks, dict):
        return {}
    me = threading.get_ident()
    while True:
        try:
            entries = list(locks.items())
            break
        except RuntimeError:  # another thread added or dropped a lock while this one copied the table
            continue
    busy: dict[str, tuple[int, int]] = {}
    for name, ref in entries:
        lock = ref() if callable(ref) else None
        owner = getattr(lock, "owner", None)
        if isinstance(owner, int) and owner not in (0, me):
            busy[name] = (id(lock), owner)
    return busy


def wait_for_imports(deadline: float) -> dict[str, tuple[int, int]]:
    """Wait until no other thread is importing, or until ``deadline``; the imports still in flight then.

    An import still running at the deadline is remembered and not waited for again while it runs.
    """
    while True:
        busy = held_elsewhere()
        _given_up.intersection_update(busy.values())  # an import that ended is forgotten
        if _given_up.issuperset(busy.values()):
            return busy
        if time.monotonic() >= deadline:
            _given_up.update(busy.values())
            return busy
        time.sleep(0.0005)  # lets the importing thread run (it needs the GIL this thread gives up)
