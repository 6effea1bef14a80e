"""Building OTel data from the facade's values: exported streams after Views, number points, quantile gauges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics.export import AggregationTemporality, Gauge, Metric, NumberDataPoint, Sum

from .._engine.family import Family
from .._model.quantile import quantile_key

__all__ = ["Stream", "filtered", "number_data", "quantile_metrics"]


@dataclass(frozen=True)
class Stream:
    """One exported stream of a producer-side family, after Views."""

    name: str
    description: str
    attribute_keys: frozenset[str] | None
    #: Bucket bounds a View's ExplicitBucketHistogramAggregation asks for (None: the family's own).
    bounds: tuple[float, ...] | None = None
    #: ``(max_size, max_scale)`` a View's ExponentialBucketHistogramAggregation asks for (None: not asked).
    exponential: tuple[int, int] | None = None


def filtered(attributes: dict[str, str], keys: frozenset[str] | None) -> dict[str, str]:
    if keys is None:
        return attributes
    return {k: v for k, v in attributes.items() if k in keys}


def number_data(counter: bool, points: list[NumberDataPoint], delta: bool) -> Sum | Gauge:
    if not counter:
        return Gauge(points)
    temporality = AggregationTemporality.DELTA if delta else AggregationTemporality.CUMULATIVE
    return Sum(points, temporality, is_monotonic=True)


def quantile_metrics(
    family: Family, stream: Stream, series_stats: list[tuple[dict[str, Any], dict[str, float]]], now: int
) -> list[Metric]:
    """One gauge per quantile, ``<name>_p50`` ... ``<name>_p99`` (``_p99_9`` for 0.999), over the window."""
    stats = [(filtered(attributes, stream.attribute_keys), values) for attributes, values in series_stats]
    metrics = []
    for q in family.quantiles:
        key = quantile_key(q)
        points = [
            NumberDataPoint(
                attributes=attrs, start_time_unix_nano=family.start_time_ns, time_unix_nano=now, value=values[key]
            )
            for attrs, values in stats
        ]
        description = f"{q:g}-quantile of {stream.name} over the last {family.max_age:g} s (client-side)"
        metrics.append(Metric(f"{stream.name}_{key.replace('.', '_')}", description, family.unit, Gauge(points)))
    return metrics
