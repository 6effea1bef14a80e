"""Cardinality: a per-metric series limit in the facade that every exporter agrees with."""

from __future__ import annotations

import logging
import tracemalloc

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rfs_otel import MemoryMetricsStorage, MetricsCollector, OTLPStorage, PrometheusStorage
from rfs_otel.testing import exported_points

from .otlp_receivers import grpc_receiver

LIMIT = 2000


def _fill(collector: MetricsCollector, label_sets: int) -> None:
    for i in range(label_sets):
        collector.counter("logins_total", "Logins", labels={"user": f"u{i}"}).increment(2)
        collector.histogram("login_seconds", labels={"user": f"u{i}"}).observe(0.1)


def _facade(collector: MetricsCollector) -> tuple[int, float, dict[str, float]]:
    records = [m for m in collector.snapshot() if m.name == "logins_total"]
    overflow = {k: v for m in records for k, v in m.labels.items() if k == "otel.metric.overflow"}
    return len(records), sum(m.value for m in records), overflow


@pytest.mark.parametrize("label_sets", [LIMIT - 1, LIMIT, LIMIT + 1, 100_000])
def test_facade_and_otel_readers_agree(label_sets: int) -> None:
    """At 1,999 / 2,000 / 2,001 / 100,000 label sets the facade, the in-memory reader and Prometheus agree."""
    memory = MemoryMetricsStorage()
    prometheus = PrometheusStorage(port=0)
    with MetricsCollector(storage=[memory, prometheus]) as collector:
        _fill(collector, label_sets)
        series, total, overflow = _facade(collector)
        assert series == min(label_sets, LIMIT) + (label_sets > LIMIT)
        assert total == 2 * label_sets  # nothing dropped, nothing double-counted
        assert bool(overflow) == (label_sets > LIMIT)

        points = exported_points(memory.collect(), "logins_total")
        assert len(points) == series
        assert sum(p.value for p in points) == total
        overflow_points = [p for p in points if p.attributes.get("otel.metric.overflow") is True]
        assert len(overflow_points) == (label_sets > LIMIT)

        hist_points = exported_points(memory.collect(), "login_seconds")
        assert len(hist_points) == series
        assert sum(p.count for p in hist_points) == label_sets

        samples = [
            s
            for family in text_string_to_metric_families(prometheus.exposition().decode())
            if family.name == "logins"
            for s in family.samples
            if s.name == "logins_total"
        ]
        assert len(samples) == series
        assert sum(s.value for s in samples) == total
        if label_sets > LIMIT:
            [folded] = [s for s in samples if s.labels.get("otel_metric_overflow") == "true"]
            assert folded.value == 2 * (label_sets - LIMIT)


def test_otlp_receiver_agrees_with_the_facade() -> None:
    """Past the limit, the OTLP collector receives the same series count and total as the facade reports."""
    with grpc_receiver() as (endpoint, received):
        with MetricsCollector(storage=OTLPStorage(endpoint=endpoint, insecure=True)) as collector:
            _fill(collector, LIMIT + 50)
            assert collector.collect_and_store_sync().is_success()
            series, total, _ = _facade(collector)
        points = received.metrics()["logins_total"].sum.data_points
    assert len(points) == series == LIMIT + 1
    assert sum(p.as_int for p in points) == total
    overflow = [
        p for p in points if any(kv.key == "otel.metric.overflow" and kv.value.bool_value for kv in p.attributes)
    ]
    assert len(overflow) == 1


def test_get_value_of_a_folded_series_reads_the_overflow_series(collector: MetricsCollector) -> None:
    """A label set past the limit returns the overflow series; its increments land there."""
    limited = MetricsCollector(cardinality_limit=2)
    first = limited.counter("x_total", labels={"id": "1"})
    limited.counter("x_total", labels={"id": "2"})
    folded = limited.counter("x_total", labels={"id": "3"})
    folded.increment(5)
    limited.counter("x_total", labels={"id": "4"}).increment(1)
    assert folded.labels == {"otel.metric.overflow": "true"}
    assert folded.get_value() == 6
    assert first.get_value() == 0
    limited.shutdown()


def test_limit_is_configurable_per_metric(collector: MetricsCollector) -> None:
    """cardinality_limit= on one metric overrides the collector's."""
    for i in range(10):
        collector.counter("tenants_total", labels={"tenant": str(i)}, cardinality_limit=3).increment()
    report = {r["metric"]: r for r in collector.cardinality_report()}
    assert report["tenants_total"]["series"] == 4
    assert report["tenants_total"]["limit"] == 3
    assert report["tenants_total"]["overflowed"]


def test_warning_is_logged_once_per_metric(caplog: pytest.LogCaptureFixture) -> None:
    """Overflow logs one warning naming the metric, however many label sets are folded."""
    with caplog.at_level(logging.WARNING, logger="rfs_otel"), MetricsCollector(cardinality_limit=5) as collector:
        for i in range(50):
            collector.counter("req_total", labels={"request_id": str(i)}).increment()
    warnings = [r for r in caplog.records if "reached its limit" in r.getMessage()]
    assert len(warnings) == 1
    assert "'req_total'" in warnings[0].getMessage()


def test_folded_label_sets_are_counted(collector: MetricsCollector) -> None:
    """rfs_otel_cardinality_overflow_total{metric=...} counts label sets routed to the overflow series."""
    limited = MetricsCollector(cardinality_limit=2)
    for i in range(7):
        limited.counter("req_total", labels={"id": str(i)}).increment()
    counted = limited.counter("rfs_otel_cardinality_overflow_total", labels={"metric": "req_total"})
    assert counted.get_value() == 5
    limited.shutdown()


def test_gauge_per_call_labels_fold_without_remembering_them() -> None:
    """Per-call gauge labels past the limit land in the overflow series and are not cached (memory stays flat)."""
    with MetricsCollector(cardinality_limit=10) as collector:
        gauge = collector.gauge("inventory_remaining")
        for i in range(1000):
            gauge.set(i, labels={"product_id": str(i)})
        [family] = [f for f in collector.families() if f.name == "inventory_remaining"]
        assert family.overflowed and len(family) == 11  # the limit of 10 plus the one overflow series
        assert gauge.get_value(labels={"product_id": "999"}) == 999
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for i in range(1000, 6000):
                gauge.set(i, labels={"product_id": str(i)})
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert grown < 5000 * 40, f"{grown} bytes kept for 5000 folded label sets"  # a cached child costs far more


def test_cardinality_report_names_the_culprit_label(collector: MetricsCollector) -> None:
    """The report lists series per metric, most first, with the labels having most distinct values."""
    for i in range(30):
        collector.counter("http_requests_total", labels={"method": "GET", "user_id": str(i)}).increment()
    collector.counter("jobs_total").increment()
    [first, *_] = collector.cardinality_report()
    assert first["metric"] == "http_requests_total"
    assert first["series"] == 30
    assert first["top_labels"] == {"user_id": 30, "method": 1}


def test_invalid_limits_are_refused() -> None:
    """Limits must be positive integers."""
    with pytest.raises(ValueError, match="cardinality_limit must be a positive int, got 0"):
        MetricsCollector(cardinality_limit=0)
    with MetricsCollector() as collector, pytest.raises(ValueError, match="got -1"):
        collector.counter("x_total", cardinality_limit=-1)
