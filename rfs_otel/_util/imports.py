"""Imports other threads are in the middle of, so a fork can wait for them to finish.

A module another thread is importing when the process forks stays "being imported" in the child forever: its
per-module import lock belongs to a thread the child does not have, so the child's first ``import`` of it (any
code's, a codec lookup's) waits for good. CPython resets only its global import lock after a fork, not these, so
the forking thread waits (briefly) for them instead. They are read from ``importlib._bootstrap._module_locks``
(name -> weak reference to a lock whose ``owner`` is the importing thread's id, the same from 3.10 to 3.14); a
Python without that table just has no imports in flight to report. ``_blocking_on`` (thread -> the module lock or
locks it waits for) tells which of them cannot end before the fork, so that the fork does not wait for those.
"""

from __future__ import annotations

import sys
import threading
import time
import weakref
from typing import Any

__all__ = ["forked", "held_elsewhere", "wait_for_imports"]

#: An import in flight: (module name, lock id, owner thread id). The name is part of it: the next module's lock
#: often gets the address of the lock of the module imported just before.
Import = tuple[str, int, int]

#: Imports a fork already waited the whole budget for: an import that never ends delays one fork. While one runs,
#: a fork waits only for the imports its thread was in when that fork began, not for those it starts meanwhile:
#: a package importing submodule after submodule for seconds does not delay every fork.
_given_up: set[Import] = set()
#: In a forked child, the imports the parent's other threads were in: they never end. Kept per import, not per
#: thread: a new thread of the child may get the id of one the child does not have.
_ghosts: set[Import] = set()
#: Threads between the before and after hooks of a fork: their imports go on only once their fork is done.
_forking: set[int] = set()
#: Imports a fork left in flight that were reported already (in the parent: a child's logging could hang).
_reported: set[Import] = set()


def _bootstrap_table(name: str) -> Any:
    """One of the import system's tables (None on a Python without it)."""
    return getattr(sys.modules.get("importlib._bootstrap"), name, None)


def held_elsewhere() -> dict[str, tuple[int, int]]:
    """Modules another thread is importing now: name -> (lock id, owner thread id)."""
    locks: Any = _bootstrap_table("_module_locks")
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

    Imports that cannot end before this fork are not waited for: those of a thread that is forking itself or
    waits (in the import system) for an import that cannot end, and those given up on before. Call ``forked``
    once the fork is done.
    """
    me = threading.get_ident()
    _forking.add(me)
    began: set[Import] | None = None  # the imports in flight when this wait began
    while True:
        busy = held_elsewhere()
        entries = {(name, lock, owner) for name, (lock, owner) in busy.items()}
        _given_up.intersection_update(entries)  # an import that ended is forgotten
        _ghosts.intersection_update(entries)
        began = entries if began is None else began
        hopeless = _hopeless({owner for _, _, owner in entries}, me)
        deep = {owner for _, _, owner in tuple(_given_up)}  # inside an import given up on (a copy: two may fork)
        pending = {
            entry
            for entry in entries - _given_up - _ghosts
            if entry[2] not in hopeless and (entry[2] not in deep or entry in began)
        }
        if not pending:
            return busy
        if time.monotonic() >= deadline:
            _given_up.update(pending)
            return busy
        time.sleep(0.0005)  # lets the importing thread run (it needs the GIL this thread gives up)


def forked(child: bool, in_flight: dict[str, tuple[int, int]]) -> list[str]:
    """End the calling thread's fork, ``in_flight`` being what ``wait_for_imports`` returned.

    In the parent: the modules of ``in_flight`` not reported before, each of which the child cannot import (it
    would wait forever). In a child: nothing; the imports the parent's other threads were in are remembered, so
    that a fork of this child does not wait for them (they never end here).
    """
    entries = {(name, lock, owner) for name, (lock, owner) in in_flight.items()}
    if child:
        _forking.clear()
        _given_up.clear()  # the threads that were importing are not in this process
        _reported.clear()
        stuck = held_elsewhere()
        _ghosts.update((name, lock, owner) for name, (lock, owner) in stuck.items())
        return []
    _forking.discard(threading.get_ident())
    _reported.intersection_update(entries | _given_up)  # an import that ended is forgotten
    new = entries - _reported
    _reported.update(new)
    return sorted(name for name, _, _ in new)


def _hopeless(owners: set[int], me: int) -> set[int]:
    """This thread, the forking ones, and those among ``owners`` waiting for an import that cannot end first."""
    stuck = {me, *_forking}
    never = _given_up | _ghosts
    table: Any = _bootstrap_table("_blocking_on")  # thread -> the module lock(s) it waits for
    table = getattr(table, "data", table)  # 3.12+: a weak-value dictionary
    waiting = owners - stuck
    while waiting and isinstance(table, dict):
        newly = {
            owner
            for owner in waiting
            if any(entry in never or entry[2] in stuck for entry in _awaited(table.get(owner)))
        }
        if not newly:
            break
        stuck |= newly
        waiting -= newly
    return stuck


def _awaited(entry: Any) -> set[Import]:
    """The imports whose module lock(s) a ``_blocking_on`` entry names (3.10: a lock; 3.12+: a weak list)."""
    if isinstance(entry, weakref.ref):
        entry = entry()
    locks = entry if isinstance(entry, list) else [entry]
    return {
        (str(getattr(lock, "name", "")), id(lock), owner)
        for lock in locks
        if isinstance(owner := getattr(lock, "owner", None), int)
    }
