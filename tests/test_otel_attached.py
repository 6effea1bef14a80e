"""Attached mode: a collector given the application's MeterProvider follows its Views, readers and lifecycle."""

from __future__ import annotations

import logging
import threading

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.metrics.view import (
    DropAggregation,
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    LastValueAggregation,
    View,
)

from rfs_otel import MetricsCollector, OTLPStorage
from rfs_otel.testing import exported_points

from .otlp_receivers import grpc_receiver


def _names(data: MetricsData | None) -> set[str]:
    assert data is not None
    return {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def _attached(*views: View) -> tuple[MetricsCollector, InMemoryMetricReader, MeterProvider]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], views=list(views), shutdown_on_exit=False)
    return MetricsCollector(storage=[], meter_provider=provider), reader, provider


def test_view_bucket_boundaries_apply_to_a_histogram() -> None:
    """An ExplicitBucketHistogramAggregation View on the app's provider sets the exported bounds."""
    view = View(instrument_name="latency_seconds", aggregation=ExplicitBucketHistogramAggregation([0.1, 1.0]))
    collector, reader, provider = _attached(view)
    collector.histogram("latency_seconds").observe(0.5)
    [point] = exported_points(reader.get_metrics_data(), "latency_seconds")
    assert (list(point.explicit_bounds), list(point.bucket_counts)) == ([0.1, 1.0], [0, 1, 0])
    collector.shutdown()
    provider.shutdown()


def test_view_bounds_regroup_a_histogram_recorded_with_finer_bounds() -> None:
    """A View whose bounds are a subset of the histogram's regroups its buckets exactly."""
    coarse = View(
        instrument_name="size_bytes", name="size_coarse", aggregation=ExplicitBucketHistogramAggregation([10])
    )
    fine = View(instrument_name="size_bytes", aggregation=ExplicitBucketHistogramAggregation([1, 10, 100]))
    collector, reader, provider = _attached(fine, coarse)
    for value in (0.5, 5, 50, 500):
        collector.histogram("size_bytes").observe(value)
    data = reader.get_metrics_data()
    [point] = exported_points(data, "size_bytes")
    [coarse_point] = exported_points(data, "size_coarse")
    assert list(point.bucket_counts) == [1, 1, 1, 1]
    assert (list(coarse_point.explicit_bounds), list(coarse_point.bucket_counts)) == ([10.0], [2, 2])
    collector.shutdown()
    provider.shutdown()


def test_drop_view_removes_the_metric() -> None:
    """A DropAggregation View on the app's provider keeps the metric out of its readers."""
    collector, reader, provider = _attached(View(instrument_name="noisy_total", aggregation=DropAggregation()))
    collector.counter("noisy_total").increment()
    collector.counter("kept_total").increment()
    names = _names(reader.get_metrics_data())
    assert "kept_total" in names and "noisy_total" not in names
    collector.shutdown()
    provider.shutdown()


def test_rename_description_and_attribute_keys_apply() -> None:
    """name, description and attribute_keys of the app's View shape the exported stream."""
    view = View(instrument_name="jobs_total", name="jobs", description="jobs done", attribute_keys={"queue"})
    collector, reader, provider = _attached(view)
    collector.counter("jobs_total", labels={"queue": "mail", "host": "a"}).increment()
    collector.counter("jobs_total", labels={"queue": "mail", "host": "b"}).increment(2)
    data = reader.get_metrics_data()
    [point] = exported_points(data, "jobs")
    assert (dict(point.attributes), point.value) == ({"queue": "mail"}, 3)
    [metric] = [m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics if m.name == "jobs"]
    assert metric.description == "jobs done"
    collector.shutdown()
    provider.shutdown()


def test_exponential_view_exports_an_exponential_histogram() -> None:
    """An exponential-histogram View is not silently ignored: the histogram exports exponential points."""
    view = View(instrument_name="wait_seconds", aggregation=ExponentialBucketHistogramAggregation())
    collector, reader, provider = _attached(view)
    collector.histogram("wait_seconds").observe(1)
    [point] = exported_points(reader.get_metrics_data(), "wait_seconds")
    assert point.count == 1 and point.positive.bucket_counts == [1]
    collector.shutdown()
    provider.shutdown()


def test_aggregation_not_fitting_the_kind_is_a_logged_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A LastValueAggregation View on a counter warns and exports the counter as a sum."""
    collector, reader, provider = _attached(View(instrument_name="hits_total", aggregation=LastValueAggregation()))
    collector.counter("hits_total").increment(4)
    with caplog.at_level(logging.WARNING, logger="rfs_otel"):
        [point] = exported_points(reader.get_metrics_data(), "hits_total")
    assert point.value == 4
    assert any("LastValueAggregation" in r.getMessage() and "hits_total" in r.getMessage() for r in caplog.records)
    collector.shutdown()
    provider.shutdown()


def test_reader_added_later_receives_the_metrics() -> None:
    """A reader added to the provider after the collector attached still gets rfs_otel's metrics."""
    collector, _, provider = _attached()
    collector.counter("late_total").increment(3)
    late = InMemoryMetricReader()
    provider.add_metric_reader(late)
    assert exported_points(late.get_metrics_data(), "late_total")[0].value == 3
    collector.shutdown()
    provider.shutdown()


class _Recorder(MetricExporter):
    """An exporter that keeps the metric names of every export (the app's own exporter)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[set[str]] = []
        self.exported = threading.Event()

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object) -> MetricExportResult:
        self.names.append(_names(metrics_data))
        self.exported.set()
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        pass


def test_shutdown_with_periodic_otlp_storage_flushes_and_keeps_threads_alive() -> None:
    """collector.shutdown() in attached mode with OTLPStorage(interval=...) exports a last time, without error."""
    errors: list[BaseException] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)  # type: ignore[assignment,return-value]
    try:
        with grpc_receiver() as (endpoint, received):
            provider = MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)
            collector = MetricsCollector(storage=OTLPStorage(endpoint, interval=60), meter_provider=provider)
            collector.counter("final_total").increment()
            collector.shutdown()
            assert received.requests and "final_total" in received.metrics()
            provider.shutdown()
    finally:
        threading.excepthook = previous
    assert errors == []


def test_otlp_storage_duplicating_the_apps_otlp_exporter_warns() -> None:
    """An OTLPStorage on a provider that already exports OTLP would send everything twice: a warning says so."""
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    with grpc_receiver() as (endpoint, _):
        app_reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint, insecure=True), 60_000)
        provider = MeterProvider(metric_readers=[app_reader], shutdown_on_exit=False)
        with pytest.warns(RuntimeWarning, match="twice"):
            collector = MetricsCollector(storage=OTLPStorage(endpoint, insecure=True), meter_provider=provider)
        collector.shutdown()
        provider.shutdown()
