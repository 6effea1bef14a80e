"""OTLPStorage against real receivers built from the official opentelemetry-proto service definitions."""

from __future__ import annotations

import time

import pytest

from rfs_otel import MetricsCollector, OTLPStorage

from .otlp_receivers import grpc_receiver, http_receiver
from .servers import free_port


def _record(collector: MetricsCollector) -> None:
    collector.counter("http_requests_total", "Requests", labels={"method": "GET"}).increment(3)
    h = collector.histogram("http_request_duration_seconds", buckets=[0.1, 1.0], description="Latency")
    h.observe(0.05)
    h.observe(0.5)
    collector.gauge("queue_depth", "Queue depth").set(4)


def _check(received_metrics: dict[str, object]) -> None:
    counter = received_metrics["http_requests_total"]
    assert counter.sum.is_monotonic  # type: ignore[attr-defined]
    [point] = counter.sum.data_points  # type: ignore[attr-defined]
    assert point.as_int == 3
    assert {kv.key: kv.value.string_value for kv in point.attributes} == {"method": "GET"}
    [hist] = received_metrics["http_request_duration_seconds"].histogram.data_points  # type: ignore[attr-defined]
    assert (hist.count, list(hist.bucket_counts), list(hist.explicit_bounds)) == (2, [1, 1, 0], [0.1, 1.0])
    [gauge] = received_metrics["queue_depth"].gauge.data_points  # type: ignore[attr-defined]
    assert gauge.as_int == 4


def test_grpc_export_delivers_names_values_attributes_and_histograms() -> None:
    """collect_and_store() over gRPC: the receiver gets the counter, histogram and gauge as recorded."""
    with grpc_receiver() as (endpoint, received):
        storage = OTLPStorage(endpoint=endpoint, protocol="grpc", insecure=True, timeout=5)
        with MetricsCollector(storage=storage) as collector:
            _record(collector)
            result = collector.collect_and_store_sync()
            assert result.is_success(), result
            assert result.unwrap() == 3
            _check(received.metrics())


def test_http_export_delivers_the_same_data() -> None:
    """collect_and_store() over HTTP/protobuf delivers the same points."""
    with http_receiver() as (endpoint, received):
        storage = OTLPStorage(endpoint=endpoint, protocol="http/protobuf", timeout=5)
        with MetricsCollector(storage=storage) as collector:
            _record(collector)
            assert collector.collect_and_store_sync().is_success()
            _check(received.metrics())


def test_headers_are_sent_and_never_shown() -> None:
    """headers= reach the collector; their values stay out of repr."""
    with http_receiver() as (endpoint, received):
        storage = OTLPStorage(endpoint=endpoint, protocol="http/protobuf", headers={"authorization": "Bearer t0ken"})
        with MetricsCollector(storage=storage) as collector:
            collector.counter("a_total").increment()
            assert collector.collect_and_store_sync().is_success()
        assert received.headers[0].get("authorization") == "Bearer t0ken"
        assert "t0ken" not in repr(storage)


def test_counter_stays_monotonic_across_exports() -> None:
    """Two exports report cumulative, non-decreasing totals with the same start time."""
    with grpc_receiver() as (endpoint, received):
        collector = MetricsCollector(storage=OTLPStorage(endpoint=endpoint, insecure=True))
        counter = collector.counter("jobs_total")
        counter.increment(2)
        collector.collect_and_store_sync()
        counter.increment(5)
        collector.collect_and_store_sync()
        collector.shutdown()
        first, second = (
            r.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0] for r in received.requests[:2]
        )
    assert (first.as_int, second.as_int) == (2, 7)
    assert first.start_time_unix_nano == second.start_time_unix_nano


def test_environment_variables_configure_the_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no arguments, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT and _PROTOCOL are followed."""
    with http_receiver() as (endpoint, received):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf")
        storage = OTLPStorage()
        with MetricsCollector(storage=storage) as collector:
            collector.counter("env_total").increment()
            assert collector.collect_and_store_sync().is_success()
        assert "env_total" in received.metrics()


def test_unreachable_collector_is_a_failure_within_the_timeout() -> None:
    """Nothing listening: Failure naming the endpoint, returned within (about) the timeout."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    storage = OTLPStorage(endpoint=endpoint, protocol="grpc", insecure=True, timeout=2)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("a_total").increment()
        started = time.monotonic()
        result = collector.collect_and_store_sync()
        elapsed = time.monotonic() - started
    assert result.is_failure()
    assert endpoint in result.unwrap_err()
    assert elapsed < 4


def test_background_mode_exports_on_its_interval_and_flushes_at_shutdown() -> None:
    """interval= exports from a background thread; shutdown() sends what was recorded since."""
    with grpc_receiver() as (endpoint, received):
        collector = MetricsCollector(storage=OTLPStorage(endpoint=endpoint, insecure=True, interval=0.2))
        counter = collector.counter("ticks_total")
        counter.increment()
        assert received.event.wait(10)
        counter.increment(10)
        collector.shutdown()
        [point] = received.metrics()["ticks_total"].sum.data_points
        assert point.as_int == 11


def test_protocol_must_be_known() -> None:
    """Only grpc and http/protobuf are accepted."""
    with pytest.raises(ValueError, match="protocol must be one of"):
        OTLPStorage(protocol="http/json")
