"""Pre-fork multiprocess mode: every worker records into memory-mapped files; any worker can export the sum.

Each thread of each process writes its own file of doubles (``<pid>-<n>.cells``, see ``_multiprocess_cells``)
through a memory map, so recording stays lock-free and a killed worker loses nothing already recorded.
``<pid>.meta.jsonl`` describes the layout, ``<pid>.gauges`` holds gauge values. At collection the directory
is aggregated (``_multiprocess_aggregate``); files of processes that have exited are folded into ``archive.json``
under an exclusive lock first, so the directory stays bounded however often workers are recycled.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._engine.series import INT64, Counter, Gauge, Histogram, HistogramSnapshot, _number, quantile_key
from .._model.quantile import bucket_quantile
from .._model.quantile import total as finite_total
from .._model.records import MetricType
from .._model.validation import LabelKey
from ._aggregate import MergedFamily, aggregate, mark_process_dead
from ._cells import SharedCells
from ._layout import GAUGE_MODES, layout, signature
from ._problems import ERRORS_METRIC, problems_for

if TYPE_CHECKING:
    from .._collector import MetricsCollector
    from .._engine.family import Family

__all__ = [
    "GAUGE_MODES",
    "MergedFamily",
    "SharedCells",
    "SharedSource",
    "aggregate",
    "mark_process_dead",
    "shared_series",
]


# -- series classes for multiprocess mode ------------------------------------------------------------


def _meta(family: Family, key: LabelKey, kind: str) -> dict[str, Any]:
    return layout(kind, family.name, key, family)


class SharedCounter(Counter):
    """A counter whose per-thread cell is a one-double view of the thread's mapped file."""

    __slots__ = ()

    def __init__(self, family: Family, key: LabelKey, cells: SharedCells) -> None:
        super(Counter, self).__init__(family, key)
        self._cells = cells  # type: ignore[assignment]
        self._local = cells.local
        self._slot = cells.add(1, (0.0,), _meta(family, key, "counter"))

    def increment(self, amount: float = 1) -> None:
        if amount.__class__ is not int or not 0 <= amount < INT64:
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
    """A histogram whose per-thread cell is a view of the thread's mapped file (same hot path)."""

    __slots__ = ()

    def __init__(self, family: Family, key: LabelKey, cells: SharedCells) -> None:
        super(Histogram, self).__init__(family, key)
        self._bounds = family.bounds
        self._width = len(family.bounds) + 1
        self._cells = cells  # type: ignore[assignment]
        self._local = cells.local
        self.exemplars = None
        init = (0.0,) * (self._width + 1) + (math.inf, -math.inf)
        self._slot = cells.add(self._width + 3, init, _meta(family, key, family.kind.value))


class SharedSummary(SharedHistogram):
    """A summary in multiprocess mode: its distribution is shared; its exact window is this process's."""

    __slots__ = ("_expiring", "_window")

    def __init__(self, family: Family, key: LabelKey, cells: SharedCells) -> None:
        super().__init__(family, key, cells)
        self._window: deque[tuple[float, float]] = deque(maxlen=family.max_samples)
        self._expiring = threading.Lock()

    def observe(self, value: float) -> None:
        super().observe(value)
        now = self._family.clock()
        window = self._window
        window.append((now, float(value)))
        if window[0][0] < now - self._family.max_age:
            self._expire(now)

    def _expire(self, now: float) -> None:
        """Release samples older than ``max_age`` (each sample once: amortised O(1) per observe)."""
        cutoff = now - self._family.max_age
        with self._expiring:
            window = self._window
            while window and window[0][0] < cutoff:
                window.popleft()

    def get_statistics(self) -> dict[str, float]:
        """Statistics of this process's window (the exported quantiles come from the merged distribution)."""
        now = self._family.clock()
        self._expire(now)
        values = sorted(v for _, v in list(self._window))
        return _window_stats(values, self._family.quantiles)


def _window_stats(values: list[float], quantiles: tuple[float, ...]) -> dict[str, float]:
    from .._model.quantile import exact_quantile

    n = len(values)
    total = finite_total(values)
    stats = {
        "count": float(n),
        "sum": total,
        "mean": total / n if n else math.nan,
        "min": values[0] if n else math.nan,
        "max": values[-1] if n else math.nan,
    }
    for q in quantiles:
        stats[quantile_key(q)] = exact_quantile(values, q)
    return stats


class SharedGauge(Gauge):
    """A gauge stored in this process's gauge file (value and write time), combined per its mode."""

    __slots__ = ("_index", "_store")

    def __init__(self, family: Family, key: LabelKey, cells: SharedCells) -> None:
        super().__init__(family, key)
        self._store = cells
        self._index = 2 * cells.add_gauge(_meta(family, key, "gauge"))

    def _write(self, value: float) -> None:
        view = self._store.gauges
        view[self._index] = value
        view[self._index + 1] = time.time()

    def set(self, value: float, labels: Any = None) -> None:
        if labels:
            self._child(labels).set(value)
            return
        number = _number("gauge", self.name, "set", value)
        with self._lock:
            self._write(number)

    def increment(self, amount: float = 1, labels: Any = None) -> None:
        if labels:
            self._child(labels).increment(amount)
            return
        number = _number("gauge", self.name, "increment", amount)
        with self._lock:
            self._write(self._store.gauges[self._index] + number)

    inc = increment

    def decrement(self, amount: float = 1, labels: Any = None) -> None:
        if labels:
            self._child(labels).decrement(amount)
            return
        number = _number("gauge", self.name, "decrement", amount)
        with self._lock:
            self._write(self._store.gauges[self._index] - number)

    dec = decrement

    def get_value(self, labels: Any = None) -> float:
        if labels:
            return self._child(labels).get_value()
        return float(self._store.gauges[self._index])


def shared_series(family: Family, key: LabelKey, cells: SharedCells) -> Any:
    """The multiprocess series class for ``family``'s kind."""
    if family.kind is MetricType.COUNTER:
        return SharedCounter(family, key, cells)
    if family.kind is MetricType.GAUGE:
        return SharedGauge(family, key, cells)
    if family.kind is MetricType.HISTOGRAM:
        return SharedHistogram(family, key, cells)
    return SharedSummary(family, key, cells)


class SharedSource:
    """Exported values aggregated from the multiprocess directory (computed once per collection)."""

    def __init__(self, directory: Path, collector: MetricsCollector) -> None:
        self._directory = directory
        self._collector = collector
        self._merged: dict[str, MergedFamily] = {}

    def begin(self) -> None:
        """Aggregate the directory; this worker's own definitions win over conflicting ones elsewhere."""
        own = {family.name: family for family in self._collector.families()}
        merged = aggregate(self._directory, {n: signature(f.kind.value, f.buckets) for n, f in own.items()})
        problems = problems_for(self._directory)
        if problems.counts:
            merged[ERRORS_METRIC] = MergedFamily(
                "counter",
                "Multiprocess files that could not be written or read, and conflicting metric definitions",
                "",
                (),
                (),
                0.0,
                "sum",
                {(("reason", reason),): [float(n)] for reason, n in sorted(problems.counts.items())},
            )
        self._collector._adopt(merged)
        for family in self._collector.families():  # adopted under a View's buckets: those values do not fit
            found = merged.get(family.name)
            if found is not None and signature(found.kind, found.bounds) != signature(
                family.kind.value, family.buckets
            ):
                problems.report(
                    "conflict",
                    ("adopted", family.name),
                    f"metric {family.name!r} is exported with buckets {list(family.buckets)}, but workers recorded "
                    f"it with {list(found.bounds)}; those values are skipped",
                )
                del merged[family.name]
        self._merged = merged

    def _series(self, family: Family) -> dict[LabelKey, Any]:
        merged = self._merged.get(family.name)
        return merged.series if merged is not None else {}

    def values(self, family: Family) -> list[tuple[dict[str, Any], float]]:
        return [(dict(key), vector[0]) for key, vector in self._series(family).items()]

    def distributions(self, family: Family) -> list[tuple[dict[str, Any], HistogramSnapshot, None]]:
        out = []
        width = len(family.bounds) + 1
        for key, vector in self._series(family).items():
            out.append(
                (
                    dict(key),
                    HistogramSnapshot(
                        list(map(int, vector[:width])), vector[width], vector[width + 1], vector[width + 2]
                    ),
                    None,
                )
            )
        return out

    def statistics(self, family: Family) -> list[tuple[dict[str, Any], dict[str, float]]]:
        """Summary statistics from the merged distribution: quantiles estimated from its buckets."""
        out = []
        for attributes, snap, _ in self.distributions(family):
            count = snap.count
            stats = {
                "count": float(count),
                "sum": snap.sum,
                "mean": snap.sum / count if count else math.nan,
                "min": snap.min if count else math.nan,
                "max": snap.max if count else math.nan,
            }
            for q in family.quantiles:
                stats[quantile_key(q)] = bucket_quantile(q, family.bounds, snap.counts, snap.min, snap.max)
            out.append((attributes, stats))
        return out
