"""MetricsCollector: reuse, conflicts, records, export to storages, lifecycle."""

from __future__ import annotations

import asyncio
import json
import math

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from rfs_otel import (
    MemoryMetricsStorage,
    MetricConflictError,
    MetricsCollector,
    MetricType,
    Success,
)
from rfs_otel.testing import exported_points


def test_same_name_and_labels_return_the_same_series(collector: MetricsCollector) -> None:
    """Asking again returns the identical object, so state is shared."""
    a = collector.counter("requests_total", labels={"service": "api"})
    b = collector.counter("requests_total", labels={"service": "api"})
    assert a is b


def test_labels_in_other_order_return_the_same_series(collector: MetricsCollector) -> None:
    """Label order does not create a second series."""
    a = collector.counter("requests_total", labels={"a": "1", "b": "2"})
    b = collector.counter("requests_total", labels={"b": "2", "a": "1"})
    assert a is b


def test_other_labels_make_another_series_of_the_same_metric(collector: MetricsCollector) -> None:
    """Different label values are different series under one name."""
    a = collector.counter("requests_total", labels={"method": "GET"})
    b = collector.counter("requests_total", labels={"method": "POST"})
    a.increment()
    assert (a.get_value(), b.get_value()) == (1, 0)


def test_same_name_with_another_kind_is_refused(collector: MetricsCollector) -> None:
    """A gauge cannot take a counter's name; the error names both kinds."""
    collector.counter("jobs_total")
    with pytest.raises(MetricConflictError, match=r"'jobs_total' is already registered as a counter.*as a gauge"):
        collector.gauge("jobs_total")


def test_histogram_with_other_buckets_is_refused(collector: MetricsCollector) -> None:
    """Re-registering a histogram with different buckets names both layouts."""
    collector.histogram("db_seconds", buckets=[0.1, 1.0])
    with pytest.raises(MetricConflictError, match=r"buckets \[0\.1, 1\.0\].*buckets \[0\.5, 5\.0\]"):
        collector.histogram("db_seconds", buckets=[0.5, 5.0])


def test_histogram_asked_again_without_buckets_keeps_its_layout(collector: MetricsCollector) -> None:
    """histogram(name) after histogram(name, buckets=...) returns the existing series."""
    h = collector.histogram("db_seconds", buckets=[0.1, 1.0])
    assert collector.histogram("db_seconds") is h


def test_get_all_metrics_returns_one_record_per_series(collector: MetricsCollector) -> None:
    """Records carry name, type, value, labels, timestamp, description and unit."""
    collector.counter("logins_total", description="Logins", labels={"method": "oauth"}).increment(2)
    collector.gauge("memory_usage_bytes", unit="By").set(512)
    collector.histogram("api_seconds").observe(0.2)
    collector.summary("batch_seconds").observe(1.0)
    records = {m.name: m for m in asyncio.run(collector.get_all_metrics())}
    assert records["logins_total"].value == 2
    assert records["logins_total"].metric_type is MetricType.COUNTER
    assert records["logins_total"].labels == {"method": "oauth"}
    assert records["logins_total"].description == "Logins"
    assert records["memory_usage_bytes"].unit == "By"
    assert records["api_seconds"].value["count"] == 1
    assert records["batch_seconds"].value["count"] == 1
    assert records["batch_seconds"].metric_type.value == "summary"
    assert all(isinstance(m.timestamp, float) and m.timestamp > 1e9 for m in records.values())


def test_every_record_serialises_to_json_as_the_seed_does(collector: MetricsCollector) -> None:
    """The seed's export_metrics_json dumps every record, including empty summaries and histograms."""
    collector.counter("a_total").increment()
    collector.histogram("b_seconds").observe(0.1)
    collector.summary("c_seconds")
    collector.histogram("d_seconds")
    records = asyncio.run(collector.get_all_metrics())
    text = json.dumps(
        [
            {
                "name": m.name,
                "type": m.metric_type.value,
                "value": m.value,
                "labels": m.labels,
                "timestamp": m.timestamp,
                "description": m.description,
            }
            for m in records
        ],
        indent=2,
    )
    assert len(json.loads(text)) == 4
    strict = json.dumps([m.to_dict() for m in records], allow_nan=False)
    assert json.loads(strict)[1]["value"]["buckets"]["+Inf"] == 1


def test_collect_and_store_reports_series_count(collector: MetricsCollector) -> None:
    """collect_and_store() returns Success(number of series)."""
    collector.counter("a_total").increment()
    collector.gauge("b").set(1, labels={"x": "1"})
    result = asyncio.run(collector.collect_and_store())
    assert result == Success(3)


def test_memory_storage_holds_genuine_otel_points(collector: MetricsCollector, memory: MemoryMetricsStorage) -> None:
    """After collect_and_store, the memory storage holds OTel data equal to the facade's values."""
    collector.counter("http_requests_total", labels={"method": "GET"}).increment(3)
    h = collector.histogram("http_request_duration_seconds", buckets=[0.1, 1.0])
    h.observe(0.05)
    h.observe(0.5)
    asyncio.run(collector.collect_and_store())
    data = memory.latest()
    [counter_point] = exported_points(data, "http_requests_total")
    assert (counter_point.value, dict(counter_point.attributes)) == (3, {"method": "GET"})
    [hist_point] = exported_points(data, "http_request_duration_seconds")
    assert list(hist_point.bucket_counts) == [1, 1, 0]
    assert list(hist_point.explicit_bounds) == [0.1, 1.0]
    assert (hist_point.count, hist_point.sum, hist_point.min, hist_point.max) == (2, 0.55, 0.05, 0.5)


def test_summary_exports_distribution_and_quantiles(collector: MetricsCollector, memory: MemoryMetricsStorage) -> None:
    """With export="histogram_and_gauges" a summary reaches OTel as a histogram plus gauges <name>_p50 ... _p99."""
    s = collector.summary(
        "request_duration_seconds", quantiles=(0.5, 0.9, 0.95, 0.99, 0.999), export="histogram_and_gauges"
    )
    for i in range(1, 101):
        s.observe(i / 100)
    data = memory.collect()
    [dist] = exported_points(data, "request_duration_seconds")
    assert dist.count == 100
    stats = s.get_statistics()
    for key in ("p50", "p90", "p95", "p99"):
        [point] = exported_points(data, f"request_duration_seconds_{key}")
        assert point.value == pytest.approx(stats[key])
    [p999] = exported_points(data, "request_duration_seconds_p99_9")
    assert p999.value == pytest.approx(stats["p99.9"])


def test_exported_counter_is_cumulative_across_collections(
    collector: MetricsCollector, memory: MemoryMetricsStorage
) -> None:
    """Two collections report the running total, not deltas."""
    c = collector.counter("jobs_total")
    c.increment(2)
    memory.collect()
    c.increment(3)
    [point] = exported_points(memory.collect(), "jobs_total")
    assert point.value == 5


def test_user_views_apply_to_counters(memory: MemoryMetricsStorage) -> None:
    """A View renaming a counter and dropping an attribute is honoured (merged series are summed)."""
    view = View(instrument_name="http_requests_total", name="requests_total", attribute_keys={"method"})
    with MetricsCollector(storage=memory, views=[view]) as c:
        c.counter("http_requests_total", labels={"method": "GET", "user": "u1"}).increment()
        c.counter("http_requests_total", labels={"method": "GET", "user": "u2"}).increment()
        data = memory.collect()
    [point] = exported_points(data, "requests_total")
    assert (point.value, dict(point.attributes)) == (2, {"method": "GET"})


def test_user_views_apply_to_histograms(memory: MemoryMetricsStorage) -> None:
    """A View's bucket boundaries, rename and attribute filter reach producer-side histograms."""
    view = View(
        instrument_name="db_query_duration_seconds",
        name="db_query_seconds",
        attribute_keys=set(),
        aggregation=ExplicitBucketHistogramAggregation(boundaries=[0.01, 0.1]),
    )
    with MetricsCollector(storage=memory, views=[view]) as c:
        h = c.histogram("db_query_duration_seconds", labels={"table": "users"})
        assert h.buckets == (0.01, 0.1)
        h.observe(0.05)
        c.histogram("db_query_duration_seconds", labels={"table": "orders"}).observe(0.5)
        data = memory.collect()
    [point] = exported_points(data, "db_query_seconds")
    assert (point.count, list(point.bucket_counts), dict(point.attributes)) == (2, [0, 1, 1], {})


def test_attaches_to_an_existing_meter_provider() -> None:
    """meter_provider= adds the storage's reader to the service's provider and feeds its own readers too."""
    service_reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[service_reader])
    memory = MemoryMetricsStorage()
    collector = MetricsCollector(storage=memory, meter_provider=provider)
    collector.counter("orders_created_total").increment()
    collector.histogram("order_value_distribution", buckets=[10, 100]).observe(50)
    assert exported_points(memory.collect(), "orders_created_total")[0].value == 1
    service_data = service_reader.get_metrics_data()
    assert exported_points(service_data, "orders_created_total")[0].value == 1
    assert exported_points(service_data, "order_value_distribution")[0].count == 1
    collector.shutdown()
    provider.shutdown()


def test_owned_provider_uses_given_resource(memory: MemoryMetricsStorage) -> None:
    """resource= becomes the exported resource."""
    with MetricsCollector(storage=memory, resource=Resource.create({"service.name": "checkout"})) as c:
        c.counter("a_total").increment()
        data = memory.collect()
    assert data is not None
    assert data.resource_metrics[0].resource.attributes["service.name"] == "checkout"


def test_owned_provider_honours_otel_service_name(
    memory: MemoryMetricsStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without resource=, OTEL_SERVICE_NAME (read when the collector is created) names the service."""
    monkeypatch.setenv("OTEL_SERVICE_NAME", "billing")
    with MetricsCollector(storage=memory) as c:
        c.counter("a_total").increment()
        data = memory.collect()
    assert data is not None
    assert data.resource_metrics[0].resource.attributes["service.name"] == "billing"


def test_two_collectors_do_not_share_state() -> None:
    """Collectors are independent: same metric names, separate values."""
    with MetricsCollector() as a, MetricsCollector() as b:
        a.counter("x_total").increment()
        assert b.counter("x_total").get_value() == 0


def test_shutdown_is_idempotent_and_stops_exports(collector: MetricsCollector) -> None:
    """shutdown() twice is fine; collect_and_store afterwards is a Failure, not an exception."""
    collector.shutdown()
    collector.shutdown()
    result = asyncio.run(collector.collect_and_store())
    assert result.is_failure()
    assert "shut down" in result.unwrap_err()


def test_a_failing_storage_gives_failure_not_exception(collector: MetricsCollector) -> None:
    """A storage whose store() raises yields Failure naming it; the others still run."""
    from rfs_otel import Failure, MetricsStorage

    class Broken(MetricsStorage):
        def readers(self):  # type: ignore[no-untyped-def]
            return ()

        def store(self, timeout: float):  # type: ignore[no-untyped-def]
            raise OSError("disk on fire")

        def __repr__(self) -> str:
            return "Broken()"

    memory = MemoryMetricsStorage()
    with MetricsCollector(storage=[Broken(), memory]) as c:
        c.counter("a_total").increment()
        result = c.collect_and_store_sync()
    assert result == Failure("Broken(): OSError: disk on fire")
    assert memory.latest() is not None


def test_storage_must_be_a_metrics_storage() -> None:
    """Passing something else as storage is a TypeError naming it."""
    with pytest.raises(TypeError, match="'redis'"):
        MetricsCollector(storage="redis")  # type: ignore[arg-type]


def test_views_with_foreign_provider_are_refused() -> None:
    """views= needs a provider rfs_otel owns; combining it with meter_provider= is an error."""
    provider = MeterProvider()
    with pytest.raises(ValueError, match="views="):
        MetricsCollector(meter_provider=provider, views=[View(instrument_name="x")])
    provider.shutdown()


def test_histogram_nan_quantile_is_json_null_in_strict_form(collector: MetricsCollector) -> None:
    """to_dict() turns NaN statistics into None for strict JSON consumers."""
    collector.summary("idle_seconds")
    [record] = collector.snapshot()
    assert math.isnan(record.value["p50"])
    assert record.to_dict()["value"]["p50"] is None


def test_views_select_counters_by_instrument_type(memory: MemoryMetricsStorage) -> None:
    """A View naming instrument_type=Counter matches facade counters (and not gauges)."""
    from opentelemetry.sdk.metrics import Counter as OtelCounter

    view = View(instrument_type=OtelCounter, attribute_keys=set())
    with MetricsCollector(storage=memory, views=[view]) as c:
        c.counter("a_total", labels={"x": "1"}).increment()
        c.counter("a_total", labels={"x": "2"}).increment()
        c.gauge("g", labels={"x": "1"}).set(5)
        data = memory.collect()
    assert [(dict(p.attributes), p.value) for p in exported_points(data, "a_total")] == [({}, 2)]
    assert [dict(p.attributes) for p in exported_points(data, "g")] == [{"x": "1"}]


def test_delta_readers_get_counter_deltas() -> None:
    """A reader preferring DELTA for counters receives the increase since its last collection."""
    from opentelemetry.sdk.metrics import Counter as OtelCounter
    from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

    reader = InMemoryMetricReader(preferred_temporality={OtelCounter: AggregationTemporality.DELTA})
    provider = MeterProvider(metric_readers=[reader])
    with MetricsCollector(storage=[], meter_provider=provider) as c:
        counter = c.counter("jobs_total")
        counter.increment(5)
        first = exported_points(reader.get_metrics_data(), "jobs_total")[0]
        counter.increment(2)
        second = exported_points(reader.get_metrics_data(), "jobs_total")[0]
    provider.shutdown()
    assert (first.value, second.value) == (5, 2)
    assert second.start_time_unix_nano == first.time_unix_nano


def test_delta_readers_get_histogram_deltas() -> None:
    """A reader preferring DELTA for histograms receives only the observations since its last collection."""
    from opentelemetry.sdk.metrics import Histogram as OtelHistogram
    from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

    reader = InMemoryMetricReader(preferred_temporality={OtelHistogram: AggregationTemporality.DELTA})
    provider = MeterProvider(metric_readers=[reader])
    with MetricsCollector(storage=[], meter_provider=provider) as c:
        h = c.histogram("job_seconds", buckets=[1.0])
        h.observe(0.5)
        h.observe(2.0)
        first = exported_points(reader.get_metrics_data(), "job_seconds")[0]
        h.observe(0.1)
        second = exported_points(reader.get_metrics_data(), "job_seconds")[0]
    provider.shutdown()
    assert (first.count, list(first.bucket_counts)) == (2, [1, 1])
    assert (second.count, list(second.bucket_counts), second.sum) == (1, [1, 0], pytest.approx(0.1))


def test_families_are_read_only_views_of_the_live_series(collector: MetricsCollector) -> None:
    """families() describes each metric and hands out the live series objects, without exposing internals."""
    from rfs_otel import MetricFamily, MetricType

    hits = collector.counter("hits_total", labels={"route": "/a"})
    hits.increment(3)
    collector.histogram("latency_seconds", buckets=[0.1, 1.0], unit="s").observe(0.5)
    views = {f.name: f for f in collector.families()}
    assert all(isinstance(f, MetricFamily) for f in views.values())
    counter, histogram = views["hits_total"], views["latency_seconds"]
    assert (counter.kind, counter.buckets, counter.overflowed, len(counter)) == (MetricType.COUNTER, (), False, 1)
    assert counter.series() == [hits] and counter.series()[0].get_value() == 3
    assert (histogram.kind, histogram.buckets, histogram.unit) == (MetricType.HISTOGRAM, (0.1, 1.0), "s")
