"""Current values of a metric read through its ``MetricFamily`` view: what alert rules and the dashboard see."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

from .._model.records import MetricType
from .expo import combine
from .expo_series import ExponentialHistogram
from .series import Counter, Gauge, Histogram, Summary
from .view import MetricFamily

__all__ = ["Distribution", "distribution", "groups", "matches", "total", "window_values"]

Labels = Mapping[str, str]


class Distribution(NamedTuple):
    """A histogram's (or summary's) series merged: bounds, per-bucket counts (+Inf last), min, max and sum."""

    bounds: tuple[float, ...]
    counts: list[int]
    min: float
    max: float
    sum: float


def matches(label_key: tuple[tuple[str, str], ...], wanted: Labels | None) -> bool:
    """Whether a series' labels include every label of ``wanted``."""
    if not wanted:
        return True
    have = dict(label_key)
    return all(have.get(k) == v for k, v in wanted.items())


def groups(family: MetricFamily | None, labels: Labels | None, by: tuple[str, ...] | None) -> list[dict[str, str]]:
    """The label sets a rule evaluates separately: each matching series' own (``by`` None) or its ``by`` labels."""
    if family is None:
        return []
    found: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for series in family.series():
        if matches(series.label_key, labels):
            key = series.label_key if by is None else tuple((k, v) for k, v in series.label_key if k in by)
            found.setdefault(key, dict(key))
    return list(found.values())


def total(family: MetricFamily | None, labels: Labels | None = None) -> float:
    """Sum of a counter's or gauge's series matching ``labels``; NaN when absent, of another kind, or none match."""
    if family is None or family.kind not in (MetricType.COUNTER, MetricType.GAUGE):
        return math.nan
    values = [
        float(s.get_value())
        for s in family.series()
        if isinstance(s, (Counter, Gauge)) and matches(s.label_key, labels)
    ]
    return float(sum(values)) if values else math.nan


def distribution(family: MetricFamily | None, labels: Labels | None = None) -> Distribution | None:
    """The matching series of a histogram or summary merged; None when absent or of another kind."""
    if family is None or family.kind not in (MetricType.HISTOGRAM, MetricType.SUMMARY):
        return None
    found = [s for s in family.series() if isinstance(s, ExponentialHistogram) and matches(s.label_key, labels)]
    expo = [s.snapshot() for s in found]
    if expo:  # exponential: merged at the common scale, its buckets as explicit ones
        merged = combine(expo)
        bounds, expo_counts = merged.explicit()
        return Distribution(tuple(bounds), expo_counts, merged.min, merged.max, merged.sum)
    counts = [0] * (len(family.buckets) + 1)
    low, high, observed = math.inf, -math.inf, 0.0
    for series in family.series():
        if isinstance(series, (Histogram, Summary)) and matches(series.label_key, labels):
            snap = series.snapshot()
            counts = [a + b for a, b in zip(counts, snap.counts)]
            low, high, observed = min(low, snap.min), max(high, snap.max), observed + snap.sum
    return Distribution(family.buckets, counts, low, high, observed)


def window_values(family: MetricFamily | None, labels: Labels | None = None) -> list[float] | None:
    """The merged, sorted windows of a summary's matching series; None when absent or not a summary."""
    if family is None or family.kind is not MetricType.SUMMARY:
        return None
    values: list[float] = []
    for series in family.series():
        if isinstance(series, Summary) and matches(series.label_key, labels):
            values.extend(series.window())
    values.sort()
    return values
