"""Multiprocess-mode problems (unwritable or unreadable files, conflicting definitions): counted and logged once.

A metrics library may lose a value; it may not raise into its host. Every file problem in multiprocess mode
is turned into a count here (exported as ``rfs_multiprocess_errors_total{reason=...}``) and one log line.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Hashable

__all__ = ["ERRORS_METRIC", "REASONS", "Problems", "problems_for"]

ERRORS_METRIC = "rfs_multiprocess_errors_total"
#: ``file``: a file could not be created, grown or written (values kept in process memory or left unfolded);
#: ``unreadable``: a file or line could not be read or has the wrong shape (skipped);
#: ``conflict``: a metric name has another kind or bucket layout elsewhere (those values skipped).
REASONS = ("file", "unreadable", "conflict")
_MAX_KEYS = 4096
_log = logging.getLogger("rfs_otel")


class Problems:
    """The problems one process has seen in one multiprocess directory: each counted once, each reason logged once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[Hashable] = set()
        self._logged: set[str] = set()
        self.counts: dict[str, int] = {}

    def report(self, reason: str, key: Hashable, message: str) -> None:
        """Count the problem ``key`` once; log the first problem of each reason as a warning, later ones at debug."""
        with self._lock:
            if key in self._seen:
                return
            if len(self._seen) < _MAX_KEYS:
                self._seen.add(key)
            self.counts[reason] = self.counts.get(reason, 0) + 1
            first = reason not in self._logged
            self._logged.add(reason)
        level = logging.WARNING if first else logging.DEBUG
        _log.log(level, "multiprocess mode: %s (counted in %s{reason=%r})", message, ERRORS_METRIC, reason)

    def _after_fork(self) -> None:
        """A forked child counts its own problems (its parent's are the parent's)."""
        self._lock = threading.Lock()
        self._seen = set()
        self.counts = {}


_registry: dict[str, Problems] = {}
_registry_lock = threading.Lock()


def problems_for(directory: str | os.PathLike[str]) -> Problems:
    """The problem tally of ``directory`` in this process (shared by the writer and the reader of it)."""
    path = os.path.abspath(directory)
    with _registry_lock:
        found = _registry.get(path)
        if found is None:
            found = _registry[path] = Problems()
        return found


def _reset_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    for problems in _registry.values():
        problems._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)
