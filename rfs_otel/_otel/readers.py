"""Factories for the OTel readers the storages register on the collector's MeterProvider."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricExporter,
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


def prometheus_reader(registry: Any, scope_labels: bool, target_info: bool) -> Any:
    """OTel's Prometheus reader filling ``registry`` (a prometheus_client CollectorRegistry the storage owns).

    It is a ``DirectPrometheusReader``: its ``exposition(encoder)`` renders plain facade families directly.
    """
    require("opentelemetry.exporter.prometheus", "prometheus")
    from .prom_direct import DirectPrometheusReader  # the exporter is an optional extra

    return DirectPrometheusReader(registry, scope_labels, target_info)


def periodic_reader(exporter: MetricExporter, interval: float, timeout: float) -> PeriodicExportingMetricReader:
    """A reader exporting every ``interval`` seconds in a background thread (flushed at shutdown)."""
    return PeriodicExportingMetricReader(
        exporter, export_interval_millis=interval * 1000, export_timeout_millis=timeout * 1000
    )
