"""The four RFS instruments as *bound series*: labels frozen at creation, recording touches only own state.

A ``Counter``/``Histogram``/``Summary`` records into the calling thread's cell (see ``cells`` and ``layout``):
no lock, no attribute hashing, no OTel SDK call on the hot path. A ``Gauge`` holds one value under
its own lock, because ``set`` must win over concurrent steps. State reaches OpenTelemetry at
collection, through the bridge (``rfs_otel._otel.bridge``).
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Mapping
from typing import Any

from .._errors import InvalidValueError
from .._model.quantile import bucket_quantile
from .._model.validation import LabelKey, check_quantile
from .._util.fork import reinit
from .backend import FamilyInfo, SlotStore
from .labelled import Labelled
from .layout import MAX, MIN, SUM, WINDOW, HistogramSnapshot, histogram_value, snapshot_of
from .layout import new_histogram_cell as _new_histogram_cell
from .numbers import INT64, ONE, checked_number, exportable
from .timer import Timer
from .window import FOLD, new_summary_cell, seal, settled
from .window_read import WindowView, read_window, window_values

__all__ = ["INT64", "ONE", "Counter", "Gauge", "Histogram", "HistogramSnapshot", "Series", "Summary", "checked_number"]

Labels = Mapping[str, object]


class Series(Labelled):
    """What every series shares: its family, frozen labels and the OTel attributes built from them."""

    __slots__ = ("__weakref__", "_children", "_family", "start_time_ns")

    def __init__(self, family: FamilyInfo, label_key: LabelKey) -> None:
        super().__init__(label_key)
        self._family = family
        self._children: dict[Any, Any] | None = None
        #: Start of this series' cumulative stream when it is not the metric's (it was removed and came back).
        self.start_time_ns: int | None = None

    @property
    def name(self) -> str:
        return self._family.name

    @property
    def description(self) -> str:
        return self._family.description

    def recorded(self) -> bool:
        """Whether anything was recorded on this series (a distribution: any observation)."""
        return bool(self.activity())

    def activity(self) -> Any:
        """A token that changes whenever something is recorded (idle series expire after ``series_ttl``)."""
        snapshot = getattr(self, "snapshot", None)
        return 1 if snapshot is None else snapshot().count

    def remove(self) -> bool:
        """Stop exporting this series; recorded on again (or asked for again), it starts a new stream from zero."""
        return bool(self._family.remove_series(self))

    def reset(self) -> None:
        """Forget every value recorded (the series was removed): a new cumulative stream starts from zero."""
        cells, slot = getattr(self, "_cells", None), getattr(self, "_slot", None)
        if cells is not None and slot is not None:
            cells.retire(self, slot)  # reset now; the slot is reused once this series is garbage

    def drop_children(self) -> None:
        """Forget the series per-call labels selected (one of them was removed)."""
        self._children = None

    def with_labels(self, labels: Labels) -> Any:
        """The series of the same metric with ``labels`` merged over this one's (created once, then cached)."""
        return self._family.child(self, labels)

    def child(self, labels: Labels) -> Any:
        """The series per-call ``labels=`` select (merged over this one's), cached here by the labels as given.

        The cache is bounded by the metric's series limit and never holds the overflow series.
        """
        try:
            return self._children[tuple(labels.items())]  # type: ignore[index]
        except (KeyError, TypeError, AttributeError):
            child = self._family.child(self, labels)
            children = self._children
            if children is None:
                children = self._children = {}
            if child is not self._family.overflow and len(children) < self._family.limit:  # stays bounded
                try:
                    children[tuple(labels.items())] = child
                except TypeError:
                    pass
            return child

    def __repr__(self) -> str:
        labels = ", ".join(f"{k}={v!r}" for k, v in self.label_key)
        return f"<{type(self).__name__} {self.name}{{{labels}}}>"


class Counter(Series):
    """A monotonically increasing total (requests, errors)."""

    __slots__ = ("_cells", "_local", "_slot", "_ticks")

    def __init__(self, family: FamilyInfo, label_key: LabelKey, cells: SlotStore, slot: int) -> None:
        super().__init__(family, label_key)
        self._cells = cells
        self._local = cells.local
        self._slot = slot
        self._ticks = cells.ticks_of(slot)

    def increment(self, amount: float = 1, labels: Labels | None = None) -> None:
        """Add ``amount`` (default 1) (to the child series ``labels`` selects, if given); a negative, NaN,
        infinite or non-number amount raises ValueError."""
        if amount is ONE and labels is None:  # the common case first: one C-level tick, nothing else
            try:
                next(self._ticks)
                return
            except TypeError:  # no tick count (multiprocess): recorded in the cells below
                pass
        if labels:
            self.child(labels).increment(amount)
            return
        if amount is not ONE and (amount.__class__ is not int or not 0 <= amount < INT64):  # 1: the common case
            amount = self._checked(amount)
        try:
            self._local.cells[self._slot] += amount
        except (AttributeError, IndexError):
            self._cells.mine()[self._slot] += amount

    inc = increment

    def _checked(self, amount: object) -> float | int:
        number = checked_number("counter", self.name, "increment", amount)
        if number < 0:
            raise InvalidValueError(f"counter {self.name!r} cannot decrease: increment({amount!r})")
        return number

    def get_value(self) -> float | int:
        """The total across all threads."""
        return exportable(sum(self._cells.values(self._slot)))

    def cell(self) -> tuple[SlotStore, int]:
        """The store and slot this counter records into (a reader sums many counters' slots in one pass)."""
        return self._cells, self._slot

    def activity(self) -> Any:
        """The total: it changes with every non-zero increment."""
        return self.get_value()


class Gauge(Series):
    """A value that goes up and down (connections, memory); per-call labels select a child series."""

    __slots__ = ("_lock", "_value", "_writes")

    def __init__(self, family: FamilyInfo, label_key: LabelKey) -> None:
        super().__init__(family, label_key)
        self._lock = threading.Lock()
        self._value: float | int = 0
        self._writes = 0

    def activity(self) -> Any:
        """How many times it was set or stepped (a gauge set to 0 counts)."""
        return self._writes

    def reset(self) -> None:
        """Back to 0, never written."""
        with self._lock:
            self._value = 0
            self._writes = 0

    def _step(self, value: object, call: str) -> float | int:
        return checked_number("gauge", self.name, call, value)

    def set(self, value: float, labels: Labels | None = None) -> None:
        """Set the value (of the child series ``labels`` selects, if given)."""
        if labels:
            self.child(labels).set(value)
            return
        if (value.__class__ is not float and (value.__class__ is not int or not -INT64 <= value < INT64)) or (
            value - value
        ):
            value = self._step(value, "set")
        with self._lock:
            self._value = value
            self._writes += 1

    def increment(self, amount: float = 1, labels: Labels | None = None) -> None:
        """Add ``amount`` (may be negative)."""
        if labels:
            self.child(labels).increment(amount)
            return
        if (amount.__class__ is not float and (amount.__class__ is not int or not -INT64 <= amount < INT64)) or (
            amount - amount
        ):
            amount = self._step(amount, "increment")
        with self._lock:
            self._value += amount
            self._writes += 1

    inc = increment

    def decrement(self, amount: float = 1, labels: Labels | None = None) -> None:
        """Subtract ``amount``."""
        if labels:
            self.child(labels).decrement(amount)
            return
        if (amount.__class__ is not float and (amount.__class__ is not int or not -INT64 <= amount < INT64)) or (
            amount - amount
        ):
            amount = self._step(amount, "decrement")
        with self._lock:
            self._value -= amount
            self._writes += 1

    dec = decrement

    def get_value(self, labels: Labels | None = None) -> float | int:
        """The current value (of the child series ``labels`` selects, if given)."""
        if labels:
            child: Gauge = self.child(labels)
            return child.get_value()
        return exportable(self._value)

    def after_fork(self) -> None:
        """In a forked child: unlock, in case another thread of the parent was setting it at fork time."""
        reinit(self._lock)


class Histogram(Series):
    """A distribution in fixed buckets (response times); quantiles are estimated from the buckets."""

    __slots__ = ("_bounds", "_cells", "_local", "_slot", "_width", "exemplars")

    def __init__(self, family: FamilyInfo, label_key: LabelKey, cells: SlotStore, slot: int) -> None:
        super().__init__(family, label_key)
        self._bounds = family.bounds
        self._width = len(family.bounds) + 1
        self._cells = cells
        self._local = cells.local
        self._slot = slot
        #: Latest exemplar per bucket index: (value, time_unix_nano, trace_id, span_id); None until traced.
        self.exemplars: dict[int, tuple[float, int, int, int]] | None = None

    @property
    def buckets(self) -> tuple[float, ...]:
        return self._bounds

    def observe(self, value: float, labels: Labels | None = None) -> None:
        """Record one observation (in the child series ``labels`` selects, if given); NaN, infinities and
        non-numbers raise ValueError and record nothing."""
        if labels:
            self.child(labels).observe(value)
            return
        if value.__class__ is not float or value - value:
            value = checked_number("histogram", self.name, "observe", value)
        try:
            cell = self._local.cells[self._slot]
            cell[bisect_left(self._bounds, value)] += 1
        except (AttributeError, IndexError, TypeError):
            cell = self._cell()
            cell[bisect_left(self._bounds, value)] += 1
        cell[SUM] += value
        if value < cell[MIN]:
            cell[MIN] = value
        if value > cell[MAX]:
            cell[MAX] = value

    def _cell(self) -> list[Any]:
        cells = self._cells.mine()
        cell: list[Any] | None = cells[self._slot]
        if cell is None:
            cell = cells[self._slot] = self._new_cell()
        return cell

    def _new_cell(self) -> list[Any]:
        """An empty cell of the calling thread (first use in a thread only)."""
        return _new_histogram_cell(self._width)

    def observe_with_exemplar(self, value: float, trace_id: int, span_id: int) -> None:
        """Observe ``value`` and keep it as its bucket's exemplar, linked to a trace (OTLP carries it)."""
        self.observe(value)
        number = float(value)
        exemplars = self.exemplars
        if exemplars is None:
            exemplars = self.exemplars = {}
        exemplars[bisect_left(self._bounds, number)] = (number, time.time_ns(), trace_id, span_id)

    def time(self) -> Timer:
        """A context manager and decorator observing elapsed seconds (``perf_counter``) into this histogram."""
        return Timer(self)

    def snapshot(self) -> HistogramSnapshot:
        """Counts, sum, min and max merged across threads."""
        return snapshot_of(self._cells.values(self._slot), self._width)

    def get_quantile(self, q: float) -> float:
        """Estimate the q-quantile from the buckets (as Prometheus' histogram_quantile), within [min, max]."""
        q = check_quantile(self.name, q)
        snap = self.snapshot()
        return bucket_quantile(q, self._bounds, snap.counts, snap.min, snap.max)

    def get_value(self) -> dict[str, Any]:
        """``{"count", "sum", "buckets": {upper bound: cumulative count}}`` (+Inf is ``math.inf``)."""
        snap = self.snapshot()
        return histogram_value(self._bounds, snap)


class Summary(Series):
    """Client-side quantiles over a sliding window (``max_age`` seconds, at most ``max_samples`` samples).

    Also keeps cumulative count, sum and bucket counts, so it exports as a distribution too.
    """

    __slots__ = ("_bounds", "_cells", "_clock", "_local", "_slot", "_width")

    def __init__(self, family: FamilyInfo, label_key: LabelKey, cells: SlotStore, slot: int) -> None:
        super().__init__(family, label_key)
        self._bounds = family.bounds
        self._width = len(family.bounds) + 1
        self._cells = cells
        self._local = cells.local
        self._clock = family.clock
        self._slot = slot

    def observe(self, value: float, labels: Labels | None = None) -> None:
        """Record one observation (in the child series ``labels`` selects, if given); NaN, infinities and
        non-numbers raise ValueError and record nothing."""
        if labels:
            self.child(labels).observe(value)
            return
        if value.__class__ is not float or value - value:
            value = checked_number("summary", self.name, "observe", value)
        try:
            pending, due, _, _ = self._local.cells[self._slot][WINDOW]
        except (AttributeError, IndexError, TypeError):
            pending, due, _, _ = self._cell()[WINDOW]
        now = self._clock()
        if now >= due:  # the batch is a slice of max_age old: seal it before this sample starts the next
            pending = self._seal(now)
        pending.append(value)
        if len(pending) >= FOLD:
            self._seal(now)

    def _seal(self, now: float) -> list[float]:
        family = self._family
        return seal(self._cell(), now, family.max_age, family.max_samples)

    def _cell(self) -> list[Any]:
        cells = self._cells.mine()
        cell: list[Any] | None = cells[self._slot]
        if cell is None:
            cell = cells[self._slot] = new_summary_cell(self._bounds)
        return cell

    def snapshot(self) -> HistogramSnapshot:
        """Cumulative counts, sum, min and max (all observations ever, not just the window)."""
        return snapshot_of([settled(cell) for cell in self._cells.values(self._slot)], self._width)

    def retained_samples(self) -> int:
        """Samples held in memory across threads right now (diagnostics: about the window plus a batch per thread)."""
        windows = [cell[WINDOW] for cell in self._cells.values(self._slot)]
        return sum(len(pending) + sketch.size + sketch.sealed_size for pending, _, _, sketch in windows)

    def _read(self) -> WindowView:
        family = self._family
        return read_window(self._cells.values(self._slot), self._clock(), family.max_age, family.max_samples)

    def window(self) -> list[float]:
        """The values in the current window, sorted: younger than ``max_age``, at most ``max_samples``."""
        family = self._family
        return window_values(self._cells.values(self._slot), self._clock(), family.max_age, family.max_samples)

    def get_statistics(self) -> dict[str, float]:
        """``count``, ``sum``, ``mean``, ``min``, ``max`` and one ``pNN`` per quantile, over the window.

        Exact up to 512 samples; beyond, quantiles are within 0.4% relative (docs/concepts.md).
        """
        return self._read().statistics(self._family.quantiles)

    def get_quantile(self, q: float) -> float:
        """The q-quantile of the current window (exact up to 512 samples, else within 0.4% relative)."""
        return self._read().quantile(check_quantile(self.name, q))

    def after_fork(self) -> None:
        """In a forked child: unlock every window, in case another thread of the parent held one at fork time."""
        for cell in self._cells.values(self._slot):
            reinit(cell[WINDOW][3].lock)
            reinit(cell[WINDOW][3].reading)

    def get_value(self) -> dict[str, float]:
        return self.get_statistics()
