"""Reading alert signals from a collector, and a time-indexed history for rates over windows."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from collections.abc import Mapping
from typing import Any, Protocol

from .._engine.reading import distribution, groups, total, window_values
from .._engine.view import MetricFamily
from .._model.quantile import bucket_quantile, exact_quantile
from .._model.records import MetricType


class MetricSource(Protocol):
    """What signals read from a collector: its metric families."""

    def families(self) -> list[MetricFamily]: ...


__all__ = ["History", "Signals"]


class Signals:
    """Current values of a collector's metrics, summed over the series matching a label filter."""

    def __init__(self, collector: MetricSource) -> None:
        self._collector = collector

    def family(self, name: str) -> MetricFamily | None:
        for family in self._collector.families():
            if family.name == name:
                return family
        return None

    def groups(self, name: str, labels: Mapping[str, str], by: tuple[str, ...] | None) -> list[dict[str, str]]:
        """The label sets a rule on ``name`` evaluates separately (per series, or per ``by`` labels)."""
        return groups(self.family(name), labels, by)

    def value(self, name: str, labels: Mapping[str, str]) -> float:
        """Sum of a counter's or gauge's matching series, or a histogram's observation count; NaN when absent."""
        family = self.family(name)
        if family is not None and family.kind is MetricType.HISTOGRAM:
            merged = distribution(family, labels)
            return math.nan if merged is None else float(sum(merged.counts))
        return total(family, labels)

    def histogram(
        self, name: str, labels: Mapping[str, str]
    ) -> tuple[tuple[float, ...], list[int], float, float] | None:
        """Bounds, merged per-bucket counts, min and max of a histogram's (or summary's) matching series."""
        merged = distribution(self.family(name), labels)
        return None if merged is None else (merged.bounds, merged.counts, merged.min, merged.max)

    def summary_quantile(self, name: str, labels: Mapping[str, str], q: float) -> float | None:
        """Exact q-quantile over the merged windows of a summary's matching series; None if not a summary."""
        values = window_values(self.family(name), labels)
        return None if values is None else exact_quantile(values, q)


class History:
    """Samples ``(time, value)`` of one signal: every one within ``dense`` seconds, then one per ``step``.

    Memory stays bounded for month-long SLO windows: about ``dense / interval + 2000`` samples.
    """

    def __init__(self, dense: float, horizon: float) -> None:
        self.dense = dense
        self.horizon = max(horizon, dense)
        self.step = max(self.horizon / 2000.0, 1.0)
        self._recent: deque[tuple[float, Any]] = deque()
        self._sparse: deque[tuple[float, Any]] = deque()

    def add(self, now: float, value: Any) -> None:
        self._recent.append((now, value))
        while self._recent and now - self._recent[0][0] > self.dense:
            sample = self._recent.popleft()
            if not self._sparse or sample[0] - self._sparse[-1][0] >= self.step:
                self._sparse.append(sample)
        while self._sparse and now - self._sparse[0][0] > self.horizon:
            self._sparse.popleft()

    def at_or_before(self, moment: float) -> tuple[float, Any] | None:
        """The latest sample taken at or before ``moment`` (the oldest one if none is that old)."""
        for part in (self._recent, self._sparse):
            if part and part[0][0] <= moment:
                index = bisect_right([t for t, _ in part], moment) - 1
                return part[index]
        oldest = self._sparse or self._recent
        return oldest[0] if oldest else None


def increase(history: History, now: float, current: float, window: float) -> tuple[float, float]:
    """(increase of a cumulative value over ``window``, seconds actually covered)."""
    past = history.at_or_before(now - window)
    if past is None or math.isnan(current) or math.isnan(past[1]):
        return math.nan, 0.0
    return current - past[1], now - past[0]


def windowed_quantile(
    history: History, now: float, current: tuple[tuple[float, ...], list[int], float, float], window: float, q: float
) -> float:
    """The q-quantile of the observations made during ``window``, from bucket-count differences.

    An exponential histogram whose buckets changed since then (wider range, lower scale) is read whole instead.
    """
    bounds, counts, low, high = current
    past = history.at_or_before(now - window)
    if past is not None and past[0] < now and past[1][0] == bounds:
        counts = [c - p for c, p in zip(counts, past[1][1])]
    return bucket_quantile(q, bounds, counts, low, high)
