"""Fork and exit hooks registered once per process, over weak references to their owners.

``os.register_at_fork`` and ``atexit`` registrations cannot be undone (the former) or pile up per object
(both), so each is registered exactly once for the whole library and reaches its owners through weak
sets: an owner that is garbage-collected simply drops out, and creating objects adds no hooks.

Around ``os.fork()`` the CPython pattern (``logging``'s ``_at_fork_reinit``) applies: before the fork the
forking thread takes the owners' short locks so the child gets a consistent copy of what they guard; after
the fork the parent releases them and the child re-initialises every lock (a lock another thread held at
fork time would otherwise stay held forever in the child, which has only the forking thread). Before taking
them, the forking thread also waits for imports other threads are in the middle of (``imports``): a module
half imported at the fork could never be imported in the child. Hooks run before the fork in the reverse order
of registration, so the modules whose hooks take locks (``logging``, ``concurrent.futures.thread``) are imported
first: their locks are taken after the wait, and an import that needs one (a module whose top level submits to a
thread pool, as OTel's ``Resource.create()`` does) can still finish.
"""

from __future__ import annotations

import atexit
import concurrent.futures.thread  # noqa: F401 - before ours: its fork hook (a lock) runs after the import wait
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, Protocol, TypeVar

from .imports import forked, wait_for_imports

__all__ = [
    "FORK_LOCK_BUDGET",
    "Reinitialisable",
    "after_fork_in_child",
    "at_exit",
    "hold_across_fork",
    "hook_counts",
    "reinit",
    "reinit_in_child",
]

T = TypeVar("T")

#: Seconds the forking thread waits, in total, for imports in flight and the short locks it holds across a
#: fork. A lock still busy after that is not held (the fork is never blocked for longer) and is simply reset
#: in the child; an import still running is reported by the child (importing that module there would hang).
FORK_LOCK_BUDGET = 0.5

_log = logging.getLogger("rfs_otel")


class Reinitialisable(Protocol):
    """A ``threading.Lock``/``RLock``/``Condition`` (all have ``_at_fork_reinit`` since Python 3.9)."""

    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...

    def release(self) -> None: ...


#: owner -> names of its methods to call in a forked child (several per owner are allowed).
_child_hooks: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()
#: owner -> name of its method returning the locks to hold while forking, in acquisition order.
_lock_providers: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
#: owner -> function called with a weak reference to it at interpreter exit.
_exit_hooks: weakref.WeakKeyDictionary[Any, Callable[[Any], object]] = weakref.WeakKeyDictionary()
#: Module-level locks (they live as long as the process), reset in every child.
_static_locks: list[Reinitialisable] = []
#: Locks the forking thread took in ``_before`` (per thread: two threads may fork at once).
_held = threading.local()
_registered: set[str] = set()
_registration_lock = threading.Lock()


def reinit(lock: Reinitialisable) -> None:
    """Reset ``lock`` to unlocked in a forked child, keeping its identity (others may hold a reference)."""
    lock._at_fork_reinit()  # type: ignore[attr-defined]  # CPython's own hook (logging, concurrent.futures)


def after_fork_in_child(owner: object, method: str) -> None:
    """Call ``owner.<method>()`` in every forked child for as long as ``owner`` exists."""
    _ensure_fork_hooks()
    _child_hooks.setdefault(owner, []).append(method)


def hold_across_fork(owner: object, method: str) -> None:
    """Hold the locks ``owner.<method>()`` returns while the process forks (within ``FORK_LOCK_BUDGET``).

    Only for locks held briefly: a lock held across network I/O would delay every fork; reset those in
    an ``after_fork_in_child`` hook instead.
    """
    _ensure_fork_hooks()
    _lock_providers[owner] = method


def at_exit(owner: T, callback: Callable[[weakref.ref[T]], object]) -> None:
    """Call ``callback(weakref.ref(owner))`` at interpreter exit if ``owner`` is still alive then.

    ``owner`` is held weakly and ``callback`` must not refer to it (a module-level function does not).
    """
    with _registration_lock:
        if "exit" not in _registered:
            atexit.register(_run_exit_hooks)
            _registered.add("exit")
    _exit_hooks[owner] = callback


def reinit_in_child(lock: Reinitialisable) -> None:
    """Reset a module-level lock (one that lives as long as the process) in every forked child."""
    _ensure_fork_hooks()
    _static_locks.append(lock)


def hook_counts() -> dict[str, int]:
    """Live owners per hook kind, and how many process-wide hooks are registered (for tests and diagnostics)."""
    return {
        "after_fork_in_child": len(_child_hooks),
        "hold_across_fork": len(_lock_providers),
        "at_exit": len(_exit_hooks),
        "module_locks": len(_static_locks),
        "registered": len(_registered),
    }


def _ensure_fork_hooks() -> None:
    with _registration_lock:
        if "fork" in _registered or not hasattr(os, "register_at_fork"):
            return
        os.register_at_fork(before=_before, after_in_parent=_after_in_parent, after_in_child=_after_in_child)
        _registered.add("fork")


def _owners(table: weakref.WeakKeyDictionary[Any, Any]) -> list[tuple[Any, Any]]:
    """A strong snapshot of a weak table (iterating it while a GC drops entries is not safe)."""
    while True:
        try:
            return list(table.items())
        except RuntimeError:  # "dictionary changed size during iteration": another thread or the GC
            continue


def _before() -> None:
    deadline = time.monotonic() + FORK_LOCK_BUDGET
    held: list[Reinitialisable] = []
    _held.locks = held
    _held.imports = wait_for_imports(deadline)  # first: an importing module may need the locks taken below
    for owner, method in _owners(_lock_providers):
        locks: Iterable[Reinitialisable] = getattr(owner, method)()
        for lock in locks:
            if lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                held.append(lock)


def _after_in_parent() -> None:
    held: list[Reinitialisable] = getattr(_held, "locks", [])
    _held.locks = []
    for lock in reversed(held):
        lock.release()
    stuck = forked(False, getattr(_held, "imports", {}))
    _held.imports = {}
    if stuck:  # logged here, not in the child: a handler there could wait on a lock another thread held
        _log.warning(
            "rfs_otel: the process forked while another thread was importing %s (a fork waits at most %.1f s "
            "for imports); importing it in the child process would wait forever: import it before forking",
            ", ".join(stuck),
            FORK_LOCK_BUDGET,
        )


def _after_in_child() -> None:
    _held.locks = []  # the child resets every lock itself; nothing to release
    forked(True, getattr(_held, "imports", {}))
    _held.imports = {}
    for lock in _static_locks:
        reinit(lock)
    _call_each([getattr(owner, method) for owner, methods in _owners(_child_hooks) for method in methods])


def _run_exit_hooks() -> None:
    # Last registered first, as atexit does: a collector's flush runs before the bridge it flushes through.
    _call_each([partial(callback, weakref.ref(owner)) for owner, callback in reversed(_owners(_exit_hooks))])


def _call_each(hooks: list[Callable[[], object]]) -> None:
    """Run every hook even if one fails; the first failure is raised at the end (Python reports it)."""
    failure: BaseException | None = None
    for hook in hooks:
        try:
            hook()
        except Exception as exc:  # one owner's fault must not leave the others unreset
            failure = failure or exc
    if failure is not None:
        raise failure
