"""Delivery of one collection to several storages under one deadline, with no lock shared between storages.

Each storage has its own slot (a lock and the time its export started). A storage still busy with an earlier
export (a thread that another caller abandoned) is skipped and reported, so it never holds up the others,
the next collection, or interpreter exit, and repeated collections never pile threads up behind it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from .._result import Failure, Result, Success
from .._util.fork import after_fork_in_child
from .base import MetricsStorage

__all__ = ["Delivery", "outcome"]

#: How long a collection waits for a storage busy with another caller's export before skipping it.
BUSY_GRACE = 0.25


class _Slot:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.since = 0.0


class Delivery:
    """Runs ``store`` on each storage in the calling thread, local storages first, within one deadline."""

    def __init__(self, storages: Sequence[MetricsStorage]) -> None:
        self._slots = {id(s): _Slot() for s in storages}
        after_fork_in_child(self, "_after_fork")

    def _after_fork(self) -> None:
        """In a forked child no export is in flight: fresh, free slots."""
        self._slots = {key: _Slot() for key in self._slots}

    def deliver(self, storages: Sequence[MetricsStorage], seconds: float, *, wait: bool = False) -> list[str]:
        """Store to each of ``storages`` within ``seconds`` in total; the failures, each naming its storage.

        ``wait=True`` (shutdown) waits for a busy storage up to the deadline instead of skipping it quickly.
        """
        started = time.monotonic()
        deadline = started + seconds
        failures: list[str] = []
        for storage in sorted(storages, key=lambda s: bool(getattr(s, "remote", False))):
            left = deadline - time.monotonic()
            if left <= 0:
                failures.append(f"{storage!r}: not attempted, the {seconds:g} s export deadline was used up")
                continue
            result = self._store_one(storage, deadline, wait)
            if result.is_failure():
                failures.append(f"{storage!r}: {result.unwrap_err()}")
        return failures

    def _store_one(self, storage: MetricsStorage, deadline: float, wait: bool) -> Result[int, str]:
        slot = self._slots.setdefault(id(storage), _Slot())
        left = deadline - time.monotonic()
        if not slot.lock.acquire(timeout=left if wait else min(left, BUSY_GRACE)):
            busy = time.monotonic() - slot.since
            return Failure(f"skipped: its previous export is still in flight (for {busy:.2f} s)")
        try:
            slot.since = time.monotonic()
            try:
                return storage.store(max(deadline - slot.since, 0.001))
            except Exception as exc:  # a storage bug must not escape into the service
                return Failure(f"{type(exc).__name__}: {exc}")
        finally:
            slot.lock.release()


def outcome(failures: list[str], series: int) -> Result[int, str]:
    """``Success(series)`` when every storage took the collection, else one Failure listing each cause."""
    return Failure("; ".join(failures)) if failures else Success(series)
