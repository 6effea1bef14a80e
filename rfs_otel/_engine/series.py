"""The four RFS instruments as *bound series*: labels frozen at creation, recording touches only own state.

A ``Counter``/``Histogram``/``Summary`` records into the calling thread's slot list (see ``_cells``):
no lock, no attribute hashing, no OTel SDK call on the hot path. A ``Gauge`` holds one value under
its own lock, because ``set`` must win over concurrent steps. State reaches OpenTelemetry at
collection, through ``_sdk``.
"""

from __future__ import annotations

import math
import threading
import time
from array import array
from bisect import bisect_left
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._errors import InvalidValueError
from .._model.quantile import bucket_quantile, exact_quantile
from .._model.quantile import total as finite_total
from .._model.records import MetricType
from .._model.validation import LabelKey, check_quantile, to_number
from .._util.fork import reinit
from .cells import COUNTER_SLOT, SlotKind, ThreadCells
from .timer import Timer

if TYPE_CHECKING:
    from .family import Family

__all__ = ["Counter", "Gauge", "Histogram", "HistogramSnapshot", "Summary"]

Labels = Mapping[str, object]


def _number(kind: str, name: str, call: str, value: object) -> float | int:
    """Coerce a recorded amount, refusing non-numbers, bool, NaN and infinities."""
    try:
        number = to_number(value)
    except TypeError:
        raise InvalidValueError(
            f"{kind} {name!r} takes a real number, got {value!r} of type {type(value).__name__}: {call}({value!r})"
        ) from None
    if isinstance(number, float):
        if not math.isfinite(number):
            raise InvalidValueError(f"{kind} {name!r} takes a finite number: {call}({value!r})")
    elif not -INT64 <= number < INT64:
        raise InvalidValueError(
            f"{kind} {name!r} takes integers within ±2**63 (what OTLP carries exactly): {call}({value!r})"
        )
    return number


#: Integers recorded must stay inside the int64 range OTLP carries; larger totals are exported as floats.
INT64 = 2**63


def _exportable(total: float | int) -> float | int:
    """A running total as an OTel value: an int past the int64 range becomes a float."""
    if total.__class__ is int and not -INT64 <= total < INT64:
        return float(total)
    return total


class _Series:
    """What every series shares: its family, frozen labels and the OTel attributes built from them."""

    __slots__ = ("_family", "attributes", "label_key")

    def __init__(self, family: Family, label_key: LabelKey) -> None:
        self._family = family
        self.label_key = label_key
        self.attributes: dict[str, Any] = dict(label_key)

    @property
    def name(self) -> str:
        return self._family.name

    @property
    def description(self) -> str:
        return self._family.description

    @property
    def labels(self) -> dict[str, str]:
        """This series' labels (a copy)."""
        return dict(self.label_key)

    def with_labels(self, labels: Labels) -> Any:
        """The series of the same metric with ``labels`` merged over this one's (created once, then cached)."""
        return self._family.child(self, labels)

    def __repr__(self) -> str:
        labels = ", ".join(f"{k}={v!r}" for k, v in self.label_key)
        return f"<{type(self).__name__} {self.name}{{{labels}}}>"


class Counter(_Series):
    """A monotonically increasing total (requests, errors)."""

    __slots__ = ("_cells", "_local", "_slot")

    def __init__(self, family: Family, label_key: LabelKey, cells: ThreadCells) -> None:
        super().__init__(family, label_key)
        self._cells = cells
        self._local = cells.local
        self._slot = cells.new_slot(COUNTER_SLOT)

    def increment(self, amount: float = 1) -> None:
        """Add ``amount`` (default 1); a negative, NaN, infinite or non-number amount raises ValueError."""
        if amount.__class__ is not int or not 0 <= amount < INT64:
            amount = self._checked(amount)
        try:
            self._local.cells[self._slot] += amount
        except (AttributeError, IndexError):
            self._cells.mine()[self._slot] += amount

    inc = increment

    def _checked(self, amount: object) -> float | int:
        number = _number("counter", self.name, "increment", amount)
        if number < 0:
            raise InvalidValueError(f"counter {self.name!r} cannot decrease: increment({amount!r})")
        return number

    def get_value(self) -> float | int:
        """The total across all threads."""
        return _exportable(sum(self._cells.values(self._slot)))


class Gauge(_Series):
    """A value that goes up and down (connections, memory); per-call labels select a child series."""

    __slots__ = ("_children", "_lock", "_value")

    def __init__(self, family: Family, label_key: LabelKey) -> None:
        super().__init__(family, label_key)
        self._lock = threading.Lock()
        self._value: float | int = 0
        self._children: dict[Any, Gauge] = {}

    def _step(self, value: object, call: str) -> float | int:
        return _number("gauge", self.name, call, value)

    def set(self, value: float, labels: Labels | None = None) -> None:
        """Set the value (of the child series ``labels`` selects, if given)."""
        if labels:
            self._child(labels).set(value)
            return
        if (value.__class__ is not float and (value.__class__ is not int or not -INT64 <= value < INT64)) or (
            value - value
        ):
            value = self._step(value, "set")
        with self._lock:
            self._value = value

    def increment(self, amount: float = 1, labels: Labels | None = None) -> None:
        """Add ``amount`` (may be negative)."""
        if labels:
            self._child(labels).increment(amount)
            return
        if (amount.__class__ is not float and (amount.__class__ is not int or not -INT64 <= amount < INT64)) or (
            amount - amount
        ):
            amount = self._step(amount, "increment")
        with self._lock:
            self._value += amount

    inc = increment

    def decrement(self, amount: float = 1, labels: Labels | None = None) -> None:
        """Subtract ``amount``."""
        if labels:
            self._child(labels).decrement(amount)
            return
        if (amount.__class__ is not float and (amount.__class__ is not int or not -INT64 <= amount < INT64)) or (
            amount - amount
        ):
            amount = self._step(amount, "decrement")
        with self._lock:
            self._value -= amount

    dec = decrement

    def get_value(self, labels: Labels | None = None) -> float | int:
        """The current value (of the child series ``labels`` selects, if given)."""
        if labels:
            return self._child(labels).get_value()
        return _exportable(self._value)

    def after_fork(self) -> None:
        """In a forked child: unlock, in case another thread of the parent was setting it at fork time."""
        reinit(self._lock)

    def _child(self, labels: Labels) -> Gauge:
        try:
            key = tuple(labels.items())
            return self._children[key]
        except (KeyError, TypeError, AttributeError):
            child: Gauge = self._family.child(self, labels)
            if child is not self._family.overflow and len(self._children) < self._family.limit:  # stays bounded
                try:
                    self._children[tuple(labels.items())] = child
                except TypeError:
                    pass
            return child


class HistogramSnapshot:
    """Merged per-bucket counts (non-cumulative, +Inf last), sum, min and max of one series."""

    __slots__ = ("counts", "max", "min", "sum")

    def __init__(self, counts: list[int], total: float, low: float, high: float) -> None:
        self.counts = counts
        self.sum = total
        self.min = low
        self.max = high

    @property
    def count(self) -> int:
        return sum(self.counts)


def _new_histogram_cell(width: int) -> list[Any]:
    return [0] * width + [0.0, math.inf, -math.inf]


def _merge_histogram_cells(a: list[Any], b: list[Any]) -> list[Any]:
    n = len(a) - 3
    merged = [x + y for x, y in zip(a[:n], b[:n])]
    merged += [a[n] + b[n], min(a[n + 1], b[n + 1]), max(a[n + 2], b[n + 2])]
    return merged


HISTOGRAM_SLOT: SlotKind = (None, _merge_histogram_cells)


def _snapshot(cells: list[list[Any]], width: int) -> HistogramSnapshot:
    counts = [0] * width
    total = 0.0
    low, high = math.inf, -math.inf
    for cell in cells:
        for i in range(width):
            counts[i] += cell[i]
        total += cell[width]
        low = min(low, cell[width + 1])
        high = max(high, cell[width + 2])
    return HistogramSnapshot(counts, total, low, high)


class Histogram(_Series):
    """A distribution in fixed buckets (response times); quantiles are estimated from the buckets."""

    __slots__ = ("_bounds", "_cells", "_local", "_slot", "_width", "exemplars")

    def __init__(self, family: Family, label_key: LabelKey, cells: ThreadCells) -> None:
        super().__init__(family, label_key)
        self._bounds = family.bounds
        self._width = len(family.bounds) + 1
        self._cells = cells
        self._local = cells.local
        self._slot = cells.new_slot(HISTOGRAM_SLOT)
        #: Latest exemplar per bucket index: (value, time_unix_nano, trace_id, span_id); None until traced.
        self.exemplars: dict[int, tuple[float, int, int, int]] | None = None

    @property
    def buckets(self) -> tuple[float, ...]:
        return self._bounds

    def observe(self, value: float) -> None:
        """Record one observation; NaN, infinities and non-numbers raise ValueError and record nothing."""
        if value.__class__ is not float or value - value:
            value = _number("histogram", self.name, "observe", value)
        try:
            cell = self._local.cells[self._slot]
            cell[bisect_left(self._bounds, value)] += 1
        except (AttributeError, IndexError, TypeError):
            cell = self._cell()
            cell[bisect_left(self._bounds, value)] += 1
        cell[-3] += value
        if value < cell[-2]:
            cell[-2] = value
        if value > cell[-1]:
            cell[-1] = value

    def _cell(self) -> list[Any]:
        cells = self._cells.mine()
        cell: list[Any] | None = cells[self._slot]
        if cell is None:
            cell = cells[self._slot] = _new_histogram_cell(self._width)
        return cell

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
        return _snapshot(self._cells.values(self._slot), self._width)

    def get_quantile(self, q: float) -> float:
        """Estimate the q-quantile from the buckets (as Prometheus' histogram_quantile), within [min, max]."""
        q = check_quantile(self.name, q)
        snap = self.snapshot()
        return bucket_quantile(q, self._bounds, snap.counts, snap.min, snap.max)

    def get_value(self) -> dict[str, Any]:
        """``{"count", "sum", "buckets": {upper bound: cumulative count}}`` (+Inf is ``math.inf``)."""
        snap = self.snapshot()
        return _histogram_value(self._bounds, snap)


def _histogram_value(bounds: tuple[float, ...], snap: HistogramSnapshot) -> dict[str, Any]:
    buckets: dict[float, int] = {}
    running = 0
    for bound, count in zip((*bounds, math.inf), snap.counts):
        running += count
        buckets[bound] = running
    return {"count": running, "sum": snap.sum, "buckets": buckets}


#: A summary cell's samples: (times, values, when its owner thread next releases expired samples).
Window = tuple["array[float]", "array[float]", float]


def _new_summary_cell(width: int) -> list[Any]:
    return [*_new_histogram_cell(width), (array("d"), array("d"), -math.inf)]


def _settled(cell: list[Any]) -> list[Any]:
    """A summary cell's histogram part with min/max covering its window (observe leaves them to readers)."""
    values = cell[-1][1]
    low, high = cell[-3], cell[-2]
    if values:
        low, high = min(low, *values), max(high, *values)
    return [*cell[:-3], low, high]


def _release(cell: list[Any], now: float, max_age: float, keep: int) -> None:
    """Owner thread only: drop samples older than ``max_age`` or beyond the newest ``keep``, folding their min/max.

    Copies only when at least as many samples go as stay (always so past the ``2 * keep`` cap), so each sample
    is copied O(1) times and the buffer holds at most about twice what arrived in the last ``max_age``.
    """
    times, values, _ = cell[-1]
    n = len(values)
    start = max(bisect_left(times, now - max_age, 0, n), n - keep)
    if start > 0 and 2 * start >= n:
        dropped = values[:start]
        low, high = min(dropped), max(dropped)
        cell[-3], cell[-2] = min(cell[-3], low), max(cell[-2], high)
        times, values = times[start:], values[start:]
    # Readers take the tuple once, so they see either the old arrays or the new ones, never a mix.
    cell[-1] = (times, values, now + max_age / 2)


def _released_copy(cell: list[Any], now: float, max_age: float, keep: int) -> list[Any]:
    """A copy of an ended threads' cell without its expired samples (the original may be read concurrently)."""
    copy = list(cell)
    _release(copy, now, max_age, keep)
    return copy


def _merge_windows(a: Window, b: Window, keep: int, cutoff: float) -> Window:
    pairs = sorted(p for p in zip(list(a[0]) + list(b[0]), list(a[1]) + list(b[1])) if p[0] >= cutoff)[-keep:]
    return array("d", (t for t, _ in pairs)), array("d", (v for _, v in pairs)), -math.inf


def summary_slot(max_samples: int, max_age: float = math.inf, clock: Callable[[], float] = time.monotonic) -> SlotKind:
    """Slot kind of a summary series: histogram state plus a (times, values) window.

    Merging an ended thread's cell keeps only samples still inside the window (younger than ``max_age``).
    """

    def merge(a: list[Any], b: list[Any]) -> list[Any]:
        cutoff = clock() - max_age
        return [*_merge_histogram_cells(_settled(a), _settled(b)), _merge_windows(a[-1], b[-1], max_samples, cutoff)]

    return (None, merge)


class Summary(_Series):
    """Client-side quantiles over a sliding window (``max_age`` seconds, at most ``max_samples`` samples).

    Also keeps cumulative count, sum and bucket counts, so it exports as a distribution too.
    """

    __slots__ = ("_bounds", "_cap", "_cells", "_clock", "_local", "_slot", "_width")

    def __init__(self, family: Family, label_key: LabelKey, cells: ThreadCells, clock: Callable[[], float]) -> None:
        super().__init__(family, label_key)
        self._bounds = family.bounds
        self._width = len(family.bounds) + 1
        self._cells = cells
        self._local = cells.local
        self._clock = clock
        self._cap = 2 * family.max_samples
        assert family.slot_kind is not None
        self._slot = cells.new_slot(family.slot_kind)

    def observe(self, value: float) -> None:
        """Record one observation; NaN, infinities and non-numbers raise ValueError and record nothing."""
        if value.__class__ is not float or value - value:
            value = _number("summary", self.name, "observe", value)
        try:
            cell = self._local.cells[self._slot]
            cell[bisect_left(self._bounds, value)] += 1
        except (AttributeError, IndexError, TypeError):
            cell = self._cell()
            cell[bisect_left(self._bounds, value)] += 1
        cell[-4] += value
        times, values, due = cell[-1]
        now = self._clock()
        times.append(now)
        values.append(value)
        if now >= due or len(values) > self._cap:
            _release(cell, now, self._family.max_age, self._family.max_samples)

    def _cell(self) -> list[Any]:
        cells = self._cells.mine()
        cell: list[Any] | None = cells[self._slot]
        if cell is None:
            cell = cells[self._slot] = _new_summary_cell(self._width)
        return cell

    def snapshot(self) -> HistogramSnapshot:
        """Cumulative counts, sum, min and max (all observations ever, not just the window)."""
        return _snapshot([_settled(cell) for cell in self._cells.values(self._slot)], self._width)

    def window(self) -> list[float]:
        """The values in the current window, sorted: younger than ``max_age``, at most ``max_samples``."""
        family = self._family
        now = self._clock()
        cutoff = now - family.max_age
        self._cells.update_base(self._slot, lambda base: _released_copy(base, now, family.max_age, family.max_samples))
        parts = []
        for cell in self._cells.values(self._slot):
            times, values, _ = cell[-1]
            n = len(values)
            start = bisect_left(times, cutoff, 0, n)
            if start < n:
                parts.append((times[start:n], values[start:n]))
        keep = family.max_samples
        if len(parts) == 1:
            chosen = list(parts[0][1][-keep:])
        else:
            pairs = sorted(p for times, values in parts for p in zip(times, values))
            chosen = [v for _, v in pairs[-keep:]]
        chosen.sort()
        return chosen

    def get_statistics(self) -> dict[str, float]:
        """``count``, ``sum``, ``mean``, ``min``, ``max`` and one ``pNN`` per quantile, over the window."""
        values = self.window()
        n = len(values)
        total = finite_total(values)
        stats: dict[str, float] = {
            "count": n,
            "sum": total,
            "mean": total / n if n else math.nan,
            "min": values[0] if n else math.nan,
            "max": values[-1] if n else math.nan,
        }
        for q in self._family.quantiles:
            stats[quantile_key(q)] = exact_quantile(values, q)
        return stats

    def get_quantile(self, q: float) -> float:
        """The q-quantile of the current window (exact, linear interpolation)."""
        return exact_quantile(self.window(), check_quantile(self.name, q))

    def get_value(self) -> dict[str, float]:
        return self.get_statistics()


def quantile_key(q: float) -> str:
    """``0.95`` -> ``"p95"``, ``0.999`` -> ``"p99.9"``, ``0.5`` -> ``"p50"``."""
    text = f"{q * 100:.10g}"
    return f"p{text}"


KIND_CLASSES: dict[MetricType, type[_Series]] = {
    MetricType.COUNTER: Counter,
    MetricType.GAUGE: Gauge,
    MetricType.HISTOGRAM: Histogram,
    MetricType.SUMMARY: Summary,
}
