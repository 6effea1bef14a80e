"""Multiprocess series and their backend: the same instruments, recording into memory-mapped per-thread files.

Each thread of each process writes its own file of doubles (``<pid>-<n>.cells``, see ``_cells``) through a
memory map, so recording stays lock-free and a killed worker loses nothing already recorded. ``<pid>.meta.jsonl``
describes the layout, ``<pid>.gauges`` holds gauge values. ``SharedBackend`` is the ``CellBackend`` a
multiprocess collector gives its families; ``SharedSource`` (``_source``) reads every worker's values back.
"""

from __future__ import annotations

import math
import os
import time
from bisect import bisect_left
from pathlib import Path
from typing import Any, cast

from .._engine.backend import FamilyInfo
from .._engine.cells import ThreadCells
from .._engine.expo import new_expo_cell
from .._engine.expo_series import ExponentialHistogram
from .._engine.layout import HistogramSnapshot, record, snapshot_of
from .._engine.series import INT64, ONE, Counter, Gauge, Histogram, Series, Summary, checked_number
from .._engine.window import summary_slot
from .._model.records import MetricType
from .._model.validation import LabelKey
from .._util.fork import Reinitialisable
from ._aggregate import aggregate
from ._cells import SharedCells
from ._expo import EXPONENTIAL
from ._layout import layout, signature
from ._removed import Removals, baseline_of, since
from ._removed import record as record_removal

__all__ = [
    "SharedBackend",
    "SharedCounter",
    "SharedExponentialHistogram",
    "SharedGauge",
    "SharedHistogram",
    "SharedSummary",
]


def _meta(family: FamilyInfo, key: LabelKey, kind: str) -> dict[str, Any]:
    return layout(kind, family.name, key, family)


def _remove_everywhere(series: Series, directory: Path) -> None:
    """Record ``series`` as removed for every worker: its totals now become the baseline later values start from."""
    family = series._family
    baseline = baseline_of(directory, family.name, family.kind.value, family.bounds, series.label_key)
    record_removal(directory, family.name, series.label_key, baseline)


class SharedCounter(Counter):
    """A counter whose per-thread cell is a one-double view of the thread's mapped file."""

    __slots__ = ()

    def reset(self) -> None:
        """Removed: every worker's view hides it until recorded again (other workers keep their own values)."""
        _remove_everywhere(self, cast(SharedCells, self._cells).directory)

    def increment(self, amount: float = 1, labels: Any = None) -> None:
        if labels:
            self.child(labels).increment(amount)
            return
        if amount is not ONE and (amount.__class__ is not int or not 0 <= amount < INT64):
            amount = self._checked(amount)
        try:
            self._local.cells[self._slot][0] += amount
        except (AttributeError, IndexError):
            self._cells.mine()[self._slot][0] += amount

    inc = increment

    def get_value(self) -> float:
        """This process's total (the exported value sums every worker)."""
        return float(sum(view[0] for view in self._cells.values(self._slot)))


class SharedHistogram(Histogram):
    """A histogram whose per-thread cell is a view of the thread's mapped file (same layout, same hot path)."""

    __slots__ = ()

    def reset(self) -> None:
        """Removed: every worker's view hides it until recorded again (other workers keep their own values)."""
        _remove_everywhere(self, cast(SharedCells, self._cells).directory)


class SharedExponentialHistogram(ExponentialHistogram):
    """An exponential histogram whose per-thread cell is a view of the thread's mapped file (same hot path)."""

    __slots__ = ()

    def _cell(self) -> list[Any]:
        cell: list[Any] = self._cells.mine()[self._slot]
        return cell


class SharedSummary(Summary):
    """A summary in multiprocess mode: its distribution is shared; its window is this process's.

    The window is a single-process summary's (per-thread batches folded into the bucket sketch by readers),
    kept in cells of this process only; it ages by the family's clock.
    """

    __slots__ = ("_shared", "_shared_slot")

    def __init__(self, family: FamilyInfo, key: LabelKey, cells: SharedCells, slot: int) -> None:
        windows = ThreadCells()  # this process's threads' windows (a forked child starts with empty ones)
        super().__init__(
            family, key, windows, windows.new_slot(summary_slot(family.max_samples, family.max_age, family.clock))
        )
        self._shared, self._shared_slot = cells, slot

    def observe(self, value: float, labels: Any = None) -> None:
        """Record into the shared distribution and this process's window (of the child ``labels`` selects)."""
        if labels:
            self.child(labels).observe(value)
            return
        if value.__class__ is not float or value - value:
            value = checked_number("summary", self.name, "observe", value)
        record(self._shared.mine()[self._shared_slot], bisect_left(self._bounds, value), value)
        Summary.observe(self, value)

    def snapshot(self) -> HistogramSnapshot:
        """This process's cumulative counts, sum, min and max."""
        return snapshot_of(self._shared.values(self._shared_slot), self._width)

    def get_statistics(self) -> dict[str, float]:
        """Statistics of this process's window (the exported quantiles come from the merged distribution)."""
        cast(ThreadCells, self._cells).reap()  # ended threads' windows folded, as a collection does
        return Summary.get_statistics(self)

    def reset(self) -> None:
        """Removed: hidden from every worker's view until recorded again; this process's window is emptied."""
        _remove_everywhere(self, self._shared.directory)
        self._cells.reset(self._slot)


class SharedGauge(Gauge):
    """A gauge stored in this process's gauge file (value and write time), combined per its mode."""

    __slots__ = ("_index", "_store")

    def reset(self) -> None:
        """Removed: hidden from every worker's view until set to another value."""
        _remove_everywhere(self, self._store.directory)

    def __init__(self, family: FamilyInfo, key: LabelKey, cells: SharedCells) -> None:
        super().__init__(family, key)
        self._store = cells
        self._index = 2 * cells.add_gauge(_meta(family, key, "gauge"))

    def _write(self, value: float) -> None:
        view = self._store.gauges
        view[self._index] = value
        view[self._index + 1] = time.time()

    def set(self, value: float, labels: Any = None) -> None:
        if labels:
            self.child(labels).set(value)
            return
        number = checked_number("gauge", self.name, "set", value)
        with self._lock:
            self._write(number)

    def increment(self, amount: float = 1, labels: Any = None) -> None:
        if labels:
            self.child(labels).increment(amount)
            return
        number = checked_number("gauge", self.name, "increment", amount)
        with self._lock:
            self._write(self._store.gauges[self._index] + number)

    inc = increment

    def decrement(self, amount: float = 1, labels: Any = None) -> None:
        if labels:
            self.child(labels).decrement(amount)
            return
        number = checked_number("gauge", self.name, "decrement", amount)
        with self._lock:
            self._write(self._store.gauges[self._index] - number)

    dec = decrement

    def get_value(self, labels: Any = None) -> float:
        if labels:
            return float(self.child(labels).get_value())
        return float(self._store.gauges[self._index])

    def activity(self) -> Any:
        """When this process last wrote it (0: never)."""
        return self._store.gauges[self._index + 1]


class SharedBackend:
    """The ``CellBackend`` of a multiprocess collector: series record into this process's mapped files."""

    #: Series can be removed: for every worker, through the directory's shared list of removals.
    removable = True
    #: Idle series expire by the totals across workers (``SharedSource``), not by this process's recording.
    expires_idle = False

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.cells = SharedCells(directory)

    def new_series(self, family: FamilyInfo, key: LabelKey) -> Series:
        """A series of ``family``'s kind whose cells live in this process's mapped files."""
        cells, kind = self.cells, family.kind
        if kind is MetricType.COUNTER:
            return SharedCounter(family, key, cells, cells.add(1, (0.0,), _meta(family, key, "counter")))
        if kind is MetricType.GAUGE:
            return SharedGauge(family, key, cells)
        if kind is MetricType.HISTOGRAM and family.exponential is not None:
            size, scale = family.exponential
            init = tuple(float(v) for v in new_expo_cell(size, scale))
            slot = cells.add(len(init), init, _meta(family, key, EXPONENTIAL))
            return SharedExponentialHistogram(family, key, cells, slot)
        width = len(family.bounds) + 1
        init = (0.0,) * (width + 1) + (math.inf, -math.inf)
        slot = cells.add(width + 3, init, _meta(family, key, kind.value))
        if kind is MetricType.HISTOGRAM:
            return SharedHistogram(family, key, cells, slot)
        return SharedSummary(family, key, cells, slot)

    def clear_elsewhere(self, family: FamilyInfo, removed: set[LabelKey]) -> int:
        """Remove, for every worker, the series of ``family`` only other workers hold (``clear()``)."""
        directory = self.cells.directory
        merged = aggregate(directory, {family.name: signature(family.kind.value, family.bounds)}).get(family.name)
        others = {} if merged is None else {k: v for k, v in merged.series.items() if k not in removed}
        earlier = Removals(directory).load()  # series removed before and not recorded on since are not there
        width = len(family.bounds) + 1
        kind = family.kind.value
        for key in [k for k in others if (family.name, k) in earlier]:
            if since(kind, width, [float(v) for v in others[key]], earlier[(family.name, key)][1]) is None:
                del others[key]
        for key, vector in others.items():
            record_removal(directory, family.name, key, [float(v) for v in vector])
        return len(others)

    def reap(self) -> None:
        """Fold ended threads' files into this process's base file."""
        self.cells.reap()

    def fork_locks(self) -> list[Reinitialisable]:
        """None: the mapped files reset themselves in a forked child."""
        return []

    def thread_count(self) -> int:
        return self.cells.thread_count()
