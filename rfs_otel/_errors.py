"""Exception types: every one is a ``ValueError`` so callers can catch broadly or precisely."""

from __future__ import annotations

__all__ = ["InvalidLabelError", "InvalidMetricNameError", "InvalidValueError", "MetricConflictError", "MetricError"]


class MetricError(ValueError):
    """Base class of rfs_otel's errors: the metric definition or a recorded value is unusable."""


class InvalidMetricNameError(MetricError):
    """A metric name breaks the Prometheus/OTel naming rules."""


class InvalidLabelError(MetricError):
    """A label name or value is unusable (bad syntax, reserved, or None)."""


class InvalidValueError(MetricError):
    """A recorded amount is not accepted (negative counter step, NaN, non-number, ...)."""


class MetricConflictError(MetricError):
    """A metric name is asked for again with an incompatible kind or bucket layout."""
