"""Factories for the OTel readers the storages register on the collector's MeterProvider."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import Aggregation

from .._util.optional import require

__all__ = ["in_memory_reader", "periodic_reader", "prometheus_reader"]


def in_memory_reader(
    temporality: dict[type, AggregationTemporality] | None = None,
    aggregation: dict[type, Aggregation] | None = None,
) -> InMemoryMetricReader:
    """An on-demand reader (cumulative unless an exporter prefers otherwise): memory, file and OTLP storages."""
    return InMemoryMetricReader(preferred_temporality=temporality, preferred_aggregation=aggregation)


def prometheus_reader(registry: Any, scope_labels: bool, target_info: bool) -> MetricReader:
    """OTel's Prometheus reader filling ``registry`` (a prometheus_client CollectorRegistry the storage owns)."""
    exporter = require("opentelemetry.exporter.prometheus", "prometheus")
    reader: MetricReader = exporter.PrometheusMetricReader(
        disable_target_info=not target_info, scope_info_enabled=scope_labels, registry=registry
    )
    return reader


def periodic_reader(exporter: MetricExporter, interval: float, timeout: float) -> PeriodicExportingMetricReader:
    """A reader exporting every ``interval`` seconds in a background thread (flushed at shutdown)."""
    return PeriodicExportingMetricReader(
        exporter, export_interval_millis=interval * 1000, export_timeout_millis=timeout * 1000
    )
