"""OTel points of an exponential-histogram family: ``ExponentialHistogram`` data, or for a Prometheus reader
(whose exporter cannot render it) the same buckets as an explicit-bucket ``Histogram``."""

from __future__ import annotations

import math
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Buckets,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricReader,
)

from .._engine.expo import ExpoSnapshot, combine
from .._engine.family import Family
from . import views as _views
from .points import Stream, filtered

__all__ = ["DeltaState", "expo_metric", "expo_metrics"]

#: Per reader: the last cumulative snapshot of each stream and label set, and when it was taken (delta).
DeltaState = dict[tuple[str, tuple[tuple[str, Any], ...]], tuple[ExpoSnapshot, int]]


def _edge(value: float, empty: bool) -> float:
    return 0.0 if empty or not math.isfinite(value) else value


def expo_metric(
    family: Family,
    stream: Stream,
    snapshots: list[tuple[dict[str, Any], Any, Any]],
    now: int,
    state: DeltaState | None,
    explicit: bool,
) -> Metric:
    """One metric of ``family``'s stream: exponential points (delta when ``state`` is given), or explicit ones."""
    grouped: dict[tuple[tuple[str, Any], ...], list[ExpoSnapshot]] = {}
    for attributes, snap, _ in snapshots:
        if isinstance(snap, ExpoSnapshot):
            key = tuple(sorted(filtered(attributes, stream.attribute_keys).items()))
            grouped.setdefault(key, []).append(snap)
    temporality = AggregationTemporality.DELTA if state is not None else AggregationTemporality.CUMULATIVE
    expo_points: list[ExponentialHistogramDataPoint] = []
    explicit_points: list[HistogramDataPoint] = []
    for key, found in grouped.items():
        snap, start = combine(found), family.start_of(dict(key))
        if state is not None:
            previous = state.get((stream.name, key))
            state[(stream.name, key)] = (snap, now)
            if previous is not None and previous[1] > start:
                delta = snap.minus(previous[0])
                if delta is not None:
                    snap, start = delta, previous[1]
        empty = snap.count == 0
        low, high = _edge(snap.min, empty), _edge(snap.max, empty)
        if explicit:
            bounds, counts = snap.explicit()
            explicit_points.append(
                HistogramDataPoint(dict(key), start, now, snap.count, snap.sum, counts, bounds, low, high)
            )
            continue
        pos_offset, pos_counts = ExpoSnapshot.dense(snap.positive)
        neg_offset, neg_counts = ExpoSnapshot.dense(snap.negative)
        expo_points.append(
            ExponentialHistogramDataPoint(
                attributes=dict(key),
                start_time_unix_nano=start,
                time_unix_nano=now,
                count=snap.count,
                sum=snap.sum,
                scale=snap.scale if snap.positive or snap.negative else 0,  # as the SDK: zeros only, scale 0
                zero_count=snap.zero_count,
                positive=Buckets(pos_offset, pos_counts),
                negative=Buckets(neg_offset, neg_counts),
                flags=0,
                min=low,
                max=high,
            )
        )
    if explicit:
        return Metric(stream.name, stream.description, family.unit, Histogram(explicit_points, temporality))
    return Metric(stream.name, stream.description, family.unit, ExponentialHistogram(expo_points, temporality))


def is_prometheus(reader: MetricReader) -> bool:
    """Whether ``reader`` is OTel's Prometheus reader (its exporter renders no exponential histogram)."""
    return any(cls.__module__.startswith("opentelemetry.exporter.prometheus") for cls in type(reader).__mro__)


def expo_metrics(
    family: Family,
    streams: tuple[Stream, ...],
    snapshots: list[tuple[dict[str, Any], Any, Any]],
    now: int,
    state: DeltaState | None,
    reader: MetricReader | None,
) -> list[Metric]:
    """One metric per stream of an exponential-histogram family (a View's explicit buckets cannot apply: warned)."""
    explicit = reader is not None and is_prometheus(reader)
    out = []
    for stream in streams:
        if stream.bounds is not None:
            _views.warn_layout(family.name, True)
        out.append(expo_metric(family, stream, snapshots, now, state, explicit))
    return out
