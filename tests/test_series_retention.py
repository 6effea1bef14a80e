"""Removing series, clearing a metric, and expiring idle series after a TTL, with OTel-correct restarts."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from rfs_otel import MemoryMetricsStorage, MetricsCollector
from rfs_otel.testing import ManualClock, exported_points


def test_series_remove_stops_exporting_it(collector: MetricsCollector) -> None:
    """series.remove() takes the series out of the export; the others stay."""
    ok = collector.counter("requests_total", labels={"status": "ok"})
    ok.increment(3)
    collector.counter("requests_total", labels={"status": "err"}).increment()
    assert ok.remove() is True
    assert ok.remove() is False
    assert collector.get_sample_value("requests_total", {"status": "ok"}) is None
    assert collector.get_sample_value("requests_total", {"status": "err"}) == 1


def test_collector_remove_and_clear(collector: MetricsCollector) -> None:
    """collector.remove(name, labels) removes one series, clear(name) all of a metric's; unknown ones are no-ops."""
    gauge = collector.gauge("inventory_remaining")
    for product in "abc":
        gauge.set(1, labels={"product_id": product})
    assert collector.remove("inventory_remaining", {"product_id": "a"}) is True
    assert collector.remove("inventory_remaining", {"product_id": "zz"}) is False
    assert collector.remove("no_such_metric") is False
    assert sorted(m.labels["product_id"] for m in collector.snapshot()) == ["b", "c"]
    assert collector.clear("inventory_remaining") == 3  # b, c and the unlabelled parent
    assert collector.snapshot() == []
    assert collector.clear("no_such_metric") == 0


def test_a_removed_series_that_comes_back_starts_a_new_stream(
    collector: MetricsCollector, memory: MemoryMetricsStorage
) -> None:
    """Recorded again after removal, a counter starts from zero with a start time after the removal."""
    jobs = collector.counter("jobs_total", labels={"queue": "mail"})
    jobs.increment(5)
    collector.collect_and_store_sync()
    [before] = exported_points(memory.latest(), "jobs_total")
    jobs.remove()
    jobs.increment(2)  # the caller kept the series: it comes back
    collector.collect_and_store_sync()
    [after] = exported_points(memory.latest(), "jobs_total")
    assert (before.value, after.value) == (5, 2)
    assert after.start_time_unix_nano > before.time_unix_nano > before.start_time_unix_nano


def test_asked_for_again_after_removal_starts_from_zero(collector: MetricsCollector) -> None:
    """collector.counter(...) for a removed label set gives a series counting from zero."""
    collector.counter("jobs_total", labels={"queue": "mail"}).increment(5)
    collector.remove("jobs_total", {"queue": "mail"})
    gc.collect()
    again = collector.counter("jobs_total", labels={"queue": "mail"})
    again.increment()
    assert collector.get_sample_value("jobs_total", {"queue": "mail"}) == 1


def test_idle_series_expire_after_the_ttl() -> None:
    """With series_ttl=60 a series nothing was recorded on for 60 s is removed at a collection; busy ones stay."""
    clock = ManualClock()
    with MetricsCollector(clock=clock, series_ttl=60) as collector:
        busy = collector.counter("hits_total", labels={"user_tier": "gold"})
        idle = collector.histogram("latency_seconds", buckets=[1], labels={"route": "/old"})
        busy.increment()
        idle.observe(0.5)
        collector.snapshot()
        clock.advance(59)
        busy.increment()
        assert {m.name for m in collector.snapshot()} == {"hits_total", "latency_seconds"}
        clock.advance(1)
        assert {m.name for m in collector.snapshot()} == {"hits_total"}
        clock.advance(58)
        assert {m.name for m in collector.snapshot()} == {"hits_total"}  # idle 59 s only
        idle.observe(2)  # recorded on again: it comes back, as a new stream
        [record] = [m for m in collector.snapshot() if m.name == "latency_seconds"]
        assert record.value["count"] == 1


def test_per_metric_ttl_overrides_the_collectors() -> None:
    """series_ttl= on one metric applies to it only."""
    clock = ManualClock()
    with MetricsCollector(clock=clock) as collector:
        collector.gauge("short_lived", series_ttl=5).set(1)
        collector.gauge("kept").set(1)
        collector.snapshot()
        clock.advance(10)
        assert [m.name for m in collector.snapshot()] == ["kept"]


def test_bad_ttl_is_refused(tmp_path: Path) -> None:
    """series_ttl must be a positive number (multiprocess mode supports it: tests/test_multiprocess_remove.py)."""
    with pytest.raises(ValueError, match="series_ttl must be None or a positive number of seconds, got 0"):
        MetricsCollector(series_ttl=0)
    with pytest.raises(ValueError, match="series_ttl must be None or a positive number of seconds, got 0"):
        MetricsCollector(multiprocess_dir=tmp_path, series_ttl=0)


def test_per_call_labels_reach_a_removed_series_again(collector: MetricsCollector) -> None:
    """After removing a child series, set(labels=) through the parent records into an exported series again."""
    inventory = collector.gauge("inventory_remaining")
    inventory.set(3, labels={"product_id": "a"})
    collector.remove("inventory_remaining", {"product_id": "a"})
    inventory.set(7, labels={"product_id": "a"})
    assert collector.get_sample_value("inventory_remaining", {"product_id": "a"}) == 7


def test_label_churn_with_a_ttl_keeps_the_series_count_bounded() -> None:
    """500 one-off label sets expire after the TTL: the metric is back to no series and accepts new ones."""
    clock = ManualClock()
    with MetricsCollector(clock=clock, series_ttl=10, cardinality_limit=100) as collector:
        for round_ in range(5):
            for i in range(100):
                collector.counter("jobs_total", labels={"batch": f"{round_}-{i}"}).increment()
            collector.snapshot()
            clock.advance(10)
            collector.snapshot()
            assert collector.series_count() == 0
        assert collector.get_sample_value("rfs_otel_cardinality_overflow_total", {"metric": "jobs_total"}) is None
