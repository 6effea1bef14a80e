"""Counter, Gauge, Histogram and Summary behave as the RFS API describes."""

from __future__ import annotations

import math
import statistics

import pytest

from rfs_otel import MetricsCollector
from rfs_otel.testing import ManualClock


def test_counter_increments_by_one_and_by_amount(collector: MetricsCollector) -> None:
    """increment() adds 1, increment(5) adds 5, get_value() returns the total."""
    counter = collector.counter(
        "http_requests_total", description="Total HTTP requests", labels={"method": "GET", "endpoint": "/api/users"}
    )
    counter.increment()
    counter.increment(5)
    assert counter.get_value() == 6


def test_counter_accepts_float_amounts(collector: MetricsCollector) -> None:
    """A counter may grow by fractional amounts (bytes, seconds)."""
    counter = collector.counter("cpu_seconds_total")
    counter.increment(0.25)
    counter.increment(0.5)
    assert counter.get_value() == pytest.approx(0.75)


def test_counter_starts_at_zero(collector: MetricsCollector) -> None:
    """A new counter reads 0."""
    assert collector.counter("jobs_total").get_value() == 0


def test_gauge_set_increment_decrement(collector: MetricsCollector) -> None:
    """set(10), increment(2), decrement(1) leaves 11."""
    gauge = collector.gauge("active_connections", description="Active connections", labels={"service": "database"})
    gauge.set(10)
    gauge.increment(2)
    gauge.decrement(1)
    assert gauge.get_value() == 11


def test_gauge_per_call_labels_make_their_own_series(collector: MetricsCollector) -> None:
    """set(v, labels=...) writes a child series merged over the constant labels, not the parent."""
    gauge = collector.gauge("inventory_remaining", labels={"warehouse": "eu"})
    gauge.set(7, labels={"product_id": "p1"})
    gauge.set(3, labels={"product_id": "p2"})
    assert gauge.get_value(labels={"product_id": "p1"}) == 7
    assert gauge.get_value(labels={"product_id": "p2"}) == 3
    assert gauge.get_value() == 0
    child = collector.gauge("inventory_remaining", labels={"warehouse": "eu", "product_id": "p1"})
    assert child.get_value() == 7


def test_gauge_per_call_labels_in_any_order_reach_one_series(collector: MetricsCollector) -> None:
    """The same labels given in another order select the same child."""
    gauge = collector.gauge("queue_depth")
    gauge.set(1, labels={"a": "1", "b": "2"})
    gauge.increment(1, labels={"b": "2", "a": "1"})
    assert gauge.get_value(labels={"a": "1", "b": "2"}) == 2


def test_histogram_buckets_are_cumulative(collector: MetricsCollector) -> None:
    """get_value() reports count, sum and cumulative bucket counts keyed by upper bound."""
    h = collector.histogram("response_time_seconds", buckets=[0.1, 0.5, 1.0])
    for v in (0.05, 0.1, 0.3, 0.7, 3.0):
        h.observe(v)
    value = h.get_value()
    assert value["count"] == 5
    assert value["sum"] == pytest.approx(4.15)
    assert value["buckets"] == {0.1: 2, 0.5: 3, 1.0: 4, math.inf: 5}


def test_histogram_default_buckets_are_prometheus_seconds(collector: MetricsCollector) -> None:
    """Without buckets=, a histogram uses Prometheus' seconds-oriented defaults, not OTel's milliseconds."""
    h = collector.histogram("api_response_time_seconds")
    assert h.buckets[0] == 0.005
    assert h.buckets[-1] == 10.0


def test_histogram_quantile_interpolates_like_prometheus(collector: MetricsCollector) -> None:
    """Quantiles of 100 observations spread evenly over (0, 1] interpolate linearly inside their bucket."""
    h = collector.histogram("latency_seconds", buckets=[0.25, 0.5, 0.75, 1.0])
    for i in range(1, 101):
        h.observe(i / 100)
    assert h.get_quantile(0.4) == pytest.approx(0.40, rel=1e-12)  # 15 of the bucket's 25 past 0.25
    assert h.get_quantile(0.9) == pytest.approx(0.90, rel=1e-12)  # 15 of 25 past 0.75


def test_histogram_quantile_stays_inside_observed_range(collector: MetricsCollector) -> None:
    """Estimates never leave [min, max] of what was observed, even in wide or +Inf buckets."""
    h = collector.histogram("response_time_seconds", buckets=[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
    for v in (0.3, 0.31, 0.32):
        h.observe(v)
    assert 0.3 <= h.get_quantile(0.0) <= 0.32
    assert 0.3 <= h.get_quantile(0.99) <= 0.32
    h.observe(50.0)
    assert h.get_quantile(1.0) == 50.0


def test_histogram_quantile_of_empty_histogram_is_nan(collector: MetricsCollector) -> None:
    """No observations: the quantile is NaN."""
    assert math.isnan(collector.histogram("empty_seconds").get_quantile(0.95))


def test_summary_statistics_describe_the_window(collector: MetricsCollector) -> None:
    """get_statistics() has count, sum, mean, min, max and p50/p90/p95/p99."""
    s = collector.summary(
        "request_duration_seconds", max_age=600, max_samples=10000, description="Request processing time"
    )
    for i in range(1, 1001):
        s.observe(i / 1000)
    stats = s.get_statistics()
    assert set(stats) == {"count", "sum", "mean", "min", "max", "p50", "p90", "p95", "p99"}
    assert stats["count"] == 1000
    assert stats["sum"] == pytest.approx(500.5)
    assert stats["mean"] == pytest.approx(0.5005)
    assert (stats["min"], stats["max"]) == (0.001, 1.0)
    # Over 512 samples the quantiles come from buckets within 0.4% relative (docs/concepts.md); min/max are exact.
    assert stats["p95"] == pytest.approx(0.95005, rel=0.004)  # between the 950th and 951st value


def test_summary_quantiles_match_exact_quantiles_on_skewed_data(collector: MetricsCollector) -> None:
    """p95/p99 over a log-normal sample are within 0.4% of the exact (linearly interpolated) window quantiles."""
    import random

    rng = random.Random(7)
    data = [rng.lognormvariate(-2.0, 1.0) for _ in range(5000)]
    s = collector.summary("skewed_seconds")
    for v in data:
        s.observe(v)
    exact = statistics.quantiles(data, n=100, method="inclusive")
    stats = s.get_statistics()
    assert stats["p95"] == pytest.approx(exact[94], rel=0.004)
    assert stats["p99"] == pytest.approx(exact[98], rel=0.004)


def test_summary_keeps_only_the_newest_max_samples(collector: MetricsCollector) -> None:
    """With max_samples=100, the statistics describe the last 100 observations only."""
    s = collector.summary("batch_seconds", max_samples=100)
    for i in range(1000):
        s.observe(float(i))
    stats = s.get_statistics()
    assert stats["count"] == 100
    assert stats["min"] == 900.0
    assert (s.snapshot().min, s.snapshot().max, s.snapshot().count) == (0.0, 999.0, 1000)


def test_summary_window_expires_old_samples(collector: MetricsCollector, clock: ManualClock) -> None:
    """Samples older than max_age seconds leave the window; newer ones stay."""
    s = collector.summary("job_seconds", max_age=60)
    s.observe(100.0)
    clock.advance(30)
    s.observe(1.0)
    assert s.get_statistics()["count"] == 2
    clock.advance(31)
    stats = s.get_statistics()
    assert stats["count"] == 1
    assert stats["max"] == 1.0


def test_summary_cumulative_count_survives_window_expiry(collector: MetricsCollector, clock: ManualClock) -> None:
    """The exported _count/_sum stay cumulative (Prometheus convention) after the window empties."""
    s = collector.summary("job_seconds", max_age=10)
    s.observe(2.0)
    clock.advance(11)
    assert s.get_statistics()["count"] == 0
    assert s.snapshot().count == 1
    assert s.snapshot().sum == 2.0


def test_summary_of_empty_window_reports_nan_quantiles(collector: MetricsCollector) -> None:
    """An empty window has count 0 and NaN mean and quantiles."""
    stats = collector.summary("idle_seconds").get_statistics()
    assert stats["count"] == 0
    assert math.isnan(stats["p99"])


def test_summary_custom_quantiles_get_their_own_keys(collector: MetricsCollector) -> None:
    """quantiles=(0.5, 0.999) yields keys p50 and p99.9."""
    s = collector.summary("db_seconds", quantiles=(0.5, 0.999))
    s.observe(1.0)
    assert {"p50", "p99.9"} <= set(s.get_statistics())


def test_with_labels_selects_a_child_series(collector: MetricsCollector) -> None:
    """with_labels() merges labels over the series' own and returns the shared child series."""
    base = collector.counter("http_requests_total", labels={"service": "api"})
    child = base.with_labels({"method": "GET"})
    child.increment(2)
    assert child is collector.counter("http_requests_total", labels={"service": "api", "method": "GET"})
    assert child.labels == {"method": "GET", "service": "api"}
    assert (base.get_value(), child.get_value()) == (0, 2)
