"""How a histogram aggregates: explicit buckets or an OTel base-2 exponential histogram, from its arguments
or from ``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION``."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from .._errors import MetricError
from .expo import DEFAULT_MAX_SCALE, DEFAULT_MAX_SIZE, check_exponential

__all__ = ["AGGREGATIONS", "ENV", "Aggregation", "exponential_by_default", "histogram_aggregation"]

ENV = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"
#: The values ``histogram(..., aggregation=...)`` accepts.
AGGREGATIONS = ("explicit", "exponential")
_log = logging.getLogger("rfs_otel")
_warned: set[str] = set()


@dataclass(frozen=True)
class Aggregation:
    """A histogram's requested aggregation: ``(max_size, max_scale)`` when exponential, None for explicit."""

    exponential: tuple[int, int] | None


def histogram_aggregation(
    name: str, aggregation: object, buckets: object, max_size: object, max_scale: object
) -> Aggregation | None:
    """The validated ``aggregation=``/``max_size=``/``max_scale=`` of ``histogram(name, ...)``; None if not given."""
    if aggregation is None and max_size is None and max_scale is None:
        return None
    if aggregation is not None and aggregation not in AGGREGATIONS:
        raise MetricError(f"histogram {name!r}: aggregation must be one of {AGGREGATIONS} or None, got {aggregation!r}")
    if aggregation != "exponential":
        if max_size is not None or max_scale is not None:
            raise MetricError(
                f"histogram {name!r}: max_size={max_size!r}/max_scale={max_scale!r} apply only to "
                f"aggregation='exponential', got aggregation={aggregation!r}"
            )
        return Aggregation(None)
    if buckets is not None:
        raise MetricError(f"histogram {name!r}: buckets={buckets!r} and aggregation='exponential' exclude each other")
    size = DEFAULT_MAX_SIZE if max_size is None else max_size
    scale = DEFAULT_MAX_SCALE if max_scale is None else max_scale
    return Aggregation(check_exponential(name, size, scale))


def exponential_by_default() -> tuple[int, int] | None:
    """The default exponential layout when the environment asks for ``base2_exponential_bucket_histogram``."""
    value = os.environ.get(ENV, "").strip().lower()
    if value == "base2_exponential_bucket_histogram":
        return (DEFAULT_MAX_SIZE, DEFAULT_MAX_SCALE)
    if value not in ("", "explicit_bucket_histogram") and value not in _warned:
        _warned.add(value)
        _log.warning("%s=%r is not a known histogram aggregation; explicit buckets are used", ENV, value)
    return None
