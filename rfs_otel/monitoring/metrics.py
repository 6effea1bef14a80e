"""Compatibility path for ``rfs.monitoring.metrics``: re-exports only."""

from rfs_otel import (
    Counter,
    Gauge,
    Histogram,
    MemoryMetricsStorage,
    Metric,
    MetricsCollector,
    MetricsStorage,
    MetricType,
    Summary,
    get_metrics_collector,
    record_counter,
    record_gauge,
    record_histogram,
    record_summary,
    set_metrics_collector,
)

__all__ = [
    "Counter",
    "Gauge",
    "Histogram",
    "MemoryMetricsStorage",
    "Metric",
    "MetricType",
    "MetricsCollector",
    "MetricsStorage",
    "Summary",
    "get_metrics_collector",
    "record_counter",
    "record_gauge",
    "record_histogram",
    "record_summary",
    "set_metrics_collector",
]
