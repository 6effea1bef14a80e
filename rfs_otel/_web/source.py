"""What the dashboard reads, as Protocols: the web layer sits below storages and the collector, so it names
the collector's read side (``MetricSource``) and an alert manager's (``AlertSource``) instead of importing them.

``MetricsCollector`` and ``AlertManager`` satisfy these structurally; the helpers read ``MetricFamily`` views.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from opentelemetry.sdk.metrics.export import MetricsData

from .._engine.series import Counter, Gauge, Histogram, Summary
from .._engine.view import MetricFamily
from .._model.records import Metric, MetricType

__all__ = ["AlertSource", "AlertView", "MetricSource", "OTelCollecting", "by_name", "distribution", "total"]

#: Bounds, merged per-bucket counts (non-cumulative, +Inf last), min and max of a histogram's series.
Distribution = tuple[tuple[float, ...], list[int], float, float]


class MetricSource(Protocol):
    """The read side of a collector: its metric families, their records, its storages."""

    def families(self) -> list[MetricFamily]: ...

    def snapshot(self) -> list[Metric]: ...

    async def get_all_metrics(self) -> list[Metric]: ...

    @property
    def storages(self) -> Sequence[object]: ...

    @property
    def system_metrics_enabled(self) -> bool: ...


class AlertView(Protocol):
    """One alert as the dashboard shows it."""

    def to_dict(self) -> dict[str, Any]: ...


class AlertSource(Protocol):
    """Something that knows the pending and firing alerts (an ``AlertManager``)."""

    def active_alerts(self) -> Sequence[AlertView]: ...


@runtime_checkable
class OTelCollecting(Protocol):
    """A storage that collects OTel ``MetricsData`` on demand (the memory storage); system metrics come from it."""

    def collect(self) -> MetricsData | None: ...


def by_name(source: MetricSource) -> Mapping[str, MetricFamily]:
    """The source's families, keyed by metric name."""
    return {family.name: family for family in source.families()}


def total(family: MetricFamily | None) -> float:
    """Sum of a counter's or gauge's series; NaN when absent, of another kind, or without series."""
    if family is None or family.kind not in (MetricType.COUNTER, MetricType.GAUGE):
        return math.nan
    values = [float(s.get_value()) for s in family.series() if isinstance(s, (Counter, Gauge))]
    return float(sum(values)) if values else math.nan


def distribution(family: MetricFamily | None) -> tuple[Distribution, float] | None:
    """A histogram's (or summary's) merged buckets over all series, with the sum of its observations."""
    if family is None or family.kind not in (MetricType.HISTOGRAM, MetricType.SUMMARY):
        return None
    counts = [0] * (len(family.buckets) + 1)
    low, high, observed = math.inf, -math.inf, 0.0
    for series in family.series():
        if isinstance(series, (Histogram, Summary)):
            snap = series.snapshot()
            counts = [a + b for a, b in zip(counts, snap.counts)]
            low, high, observed = min(low, snap.min), max(high, snap.max), observed + snap.sum
    return (family.buckets, counts, low, high), observed
