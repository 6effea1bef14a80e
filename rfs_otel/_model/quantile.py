"""Quantile estimation: from histogram buckets (Prometheus-style) and exactly from a sample window."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "bucket_quantile",
    "exact_quantile",
    "interpolate",
    "quantile_key",
    "statistics",
    "total",
    "window_statistics",
]


def total(values: Iterable[float]) -> float:
    """Exact sum of finite floats; ``±inf`` (not an OverflowError) when the sum leaves the float range."""
    items = list(values)
    try:
        return math.fsum(items)
    except OverflowError:  # a partial sum overflowed: scaled down by a power of two (exact bar subnormals) none can
        scale = 2.0 ** max(1, len(items).bit_length())
        return math.fsum([v / scale for v in items]) * scale


def interpolate(below: float, above: float, fraction: float) -> float:
    """``below + (above - below) * fraction`` (numpy's), also when ``above - below`` overflows (opposite huge signs)."""
    step = above - below
    if math.isinf(step):
        return below * (1.0 - fraction) + above * fraction
    return below + step * fraction


def bucket_quantile(
    q: float, bounds: Sequence[float], counts: Sequence[int], observed_min: float, observed_max: float
) -> float:
    """Estimate the q-quantile from per-bucket counts like ``histogram_quantile``, kept inside [min, max].

    Linear interpolation inside the bucket holding the rank; the first bucket's lower edge and the
    +Inf bucket's upper edge are the observed min and max, so the estimate never leaves the data.
    """
    total = sum(counts)
    if total == 0:
        return math.nan
    rank = q * total
    cumulative = 0
    for i, count in enumerate(counts):
        if count and cumulative + count >= rank:
            lower = observed_min if i == 0 else max(bounds[i - 1], observed_min)
            upper = observed_max if i == len(bounds) else min(bounds[i], observed_max)
            estimate = lower + (upper - lower) * max(rank - cumulative, 0.0) / count
            return min(max(estimate, observed_min), observed_max)
        cumulative += count
    return observed_max


def exact_quantile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile of sorted data by linear interpolation (numpy's default, R type 7)."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    position = q * (n - 1)
    low = math.floor(position)
    high = min(low + 1, n - 1)
    return interpolate(sorted_values[low], sorted_values[high], position - low)


def quantile_key(q: float) -> str:
    """``0.95`` -> ``"p95"``, ``0.999`` -> ``"p99.9"``, ``0.5`` -> ``"p50"``."""
    text = f"{q * 100:.10g}"
    return f"p{text}"


def statistics(
    count: float, total: float, low: float, high: float, quantiles: Iterable[float], quantile: Callable[[float], float]
) -> dict[str, float]:
    """The summary statistics dict: ``count``, ``sum``, ``mean``, ``min``, ``max`` and one ``pNN`` per quantile.

    ``quantile(q)`` estimates each quantile; an empty window (``count == 0``) gives NaN for all but count and sum.
    """
    stats: dict[str, float] = {
        "count": count,
        "sum": total,
        "mean": total / count if count else math.nan,
        "min": low if count else math.nan,
        "max": high if count else math.nan,
    }
    for q in quantiles:
        stats[quantile_key(q)] = quantile(q)
    return stats


def window_statistics(sorted_values: Sequence[float], quantiles: Iterable[float]) -> dict[str, float]:
    """Statistics of a sorted sample window, with exact quantiles (summaries and alert signals use this one)."""
    n = len(sorted_values)
    low, high = (sorted_values[0], sorted_values[-1]) if n else (math.nan, math.nan)
    return statistics(n, total(sorted_values), low, high, quantiles, lambda q: exact_quantile(sorted_values, q))
