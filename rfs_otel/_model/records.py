"""The ``Metric`` record returned by ``get_all_metrics``: one per series, JSON-ready."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = ["GAUGE_MODES", "SUMMARY_EXPORTS", "Metric", "MetricType", "MetricValue"]


class MetricType(str, Enum):
    """The four RFS metric kinds; ``.value`` is the lower-case name."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"
    SUMMARY = "summary"


#: How a gauge combines across live workers in multiprocess mode: their sum, max, min, the most recently written
#: value, or one series per pid (label ``pid``).
GAUGE_MODES = ("sum", "max", "min", "mostrecent", "perpid")
#: How a summary is exported: natively (``summary``), or as a histogram plus one ``_pNN`` gauge per quantile.
SUMMARY_EXPORTS = ("summary", "histogram_and_gauges")

#: A number for counters and gauges, a dict for histograms and summaries.
MetricValue = Any


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if isinstance(value, dict):
        return {_json_key(k): _json_safe(v) for k, v in value.items()}
    return value


def _json_key(key: Any) -> str:
    if isinstance(key, float):
        return "+Inf" if key == math.inf else repr(key)
    return str(key)


@dataclass(frozen=True)
class Metric:
    """One series at one instant, as the RFS API describes it."""

    name: str
    metric_type: MetricType
    value: MetricValue
    labels: dict[str, str] = field(default_factory=dict)
    timestamp: float = 0.0
    description: str = ""
    unit: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON form: NaN becomes None, infinities and float keys become strings."""
        return {
            "name": self.name,
            "type": self.metric_type.value,
            "value": _json_safe(self.value),
            "labels": dict(self.labels),
            "timestamp": self.timestamp,
            "description": self.description,
            "unit": self.unit,
        }
