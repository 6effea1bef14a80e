"""Removed series in multiprocess mode: one shared list of (metric, labels) -> removal time and the totals then.

Every worker keeps recording into its own files, so a removal cannot reset other workers' values. Instead the
remover writes the series' totals across all workers (the *baseline*) and the removal time to
``removed.json``; every worker's collection subtracts the baseline, hides the series until something is
recorded on it again, and starts its new stream at the removal time.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from .._model.validation import LabelKey
from ._aggregate import aggregate
from ._layout import signature
from ._problems import problems_for

__all__ = ["FILE", "Removals", "baseline_of", "record", "since"]

FILE = "removed.json"
_LOCK = "removed.lock"

#: (metric name, label key) -> (removal time in ns since the epoch, the raw totals then).
Removed = dict[tuple[str, LabelKey], tuple[int, list[float]]]


def _entry_key(name: str, key: LabelKey) -> str:
    return json.dumps([name, [list(pair) for pair in key]])


def _read(path: Path) -> dict[str, Any]:
    """The file's entries; a missing file has none, an unreadable one (truncated, not an object) is reported."""
    try:
        found: Any = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        found = error
    if not isinstance(found, dict):
        problems_for(path.parent).report("unreadable", ("removed", str(path)), f"{path} is not a JSON object: {found}")
        return {}
    return found


def _parsed(text: str, entry: Any) -> tuple[tuple[str, LabelKey], tuple[int, list[float]]] | None:
    """One entry as ((metric, labels), (time, baseline)), or None when it has the wrong shape."""
    try:
        name, pairs = json.loads(text)
        key = tuple((str(k), str(v)) for k, v in pairs)
        return (str(name), key), (int(entry["at"]), [float(v) for v in entry["baseline"]])
    except (TypeError, ValueError, KeyError, IndexError):
        return None


def baseline_of(directory: Path, name: str, kind: str, bounds: tuple[float, ...], key: LabelKey) -> list[float]:
    """The series' raw totals across every worker right now (empty when nothing was recorded on it)."""
    merged = aggregate(directory, {name: signature(kind, bounds)}).get(name)
    vector = None if merged is None else merged.series.get(key)
    return [] if vector is None else [float(v) for v in vector]


def record(directory: Path, name: str, key: LabelKey, baseline: list[float], at_ns: int | None = None) -> None:
    """Write the removal of ``name{key}`` with its totals ``baseline`` (atomically, under a lock file)."""
    at = time.time_ns() if at_ns is None else at_ns
    with open(directory / _LOCK, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = {k: v for k, v in _read(directory / FILE).items() if _parsed(k, v) is not None}
        entries[_entry_key(name, key)] = {"at": at, "baseline": [v if math.isfinite(v) else str(v) for v in baseline]}
        temporary = directory / f"{FILE}.{os.getpid()}.tmp"
        temporary.write_bytes(json.dumps(entries).encode())  # bytes: a text file's codec lookup may import one
        temporary.replace(directory / FILE)


class Removals:
    """The removals of one directory, re-read only when the file changed."""

    def __init__(self, directory: Path) -> None:
        self._path = directory / FILE
        self._stamp: tuple[int, int] | None = None
        self._removed: Removed = {}

    def load(self) -> Removed:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            removed: Removed = {}
            for text, entry in _read(self._path).items():
                parsed = _parsed(text, entry)
                if parsed is None:
                    problems_for(self._path.parent).report(
                        "unreadable", ("removed", text), f"{self._path}: skipped an entry of the wrong shape: {text!r}"
                    )
                    continue
                removed[parsed[0]] = parsed[1]
            self._stamp, self._removed = stamp, removed
        return self._removed


def since(kind: str, width: int, vector: list[float], baseline: list[float]) -> list[float] | None:
    """What was recorded on a series after its removal (``vector`` minus ``baseline``); None when nothing was.

    Counters and distributions subtract (a distribution keeps its all-time min and max, which cannot be
    subtracted); a gauge is shown again once its value differs from the one it had when removed.
    """
    if not baseline:
        return vector
    if kind == "gauge":
        return None if vector == baseline else vector
    if kind == "counter":
        rest = vector[0] - baseline[0]
        return [rest] if rest else None
    counts = [a - b for a, b in zip(vector[:width], baseline[:width])]
    if not any(counts):
        return None
    return [*counts, vector[width] - baseline[width], vector[width + 1], vector[width + 2]]
