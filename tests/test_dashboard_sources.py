"""What MetricsDashboard reads: the default collector when given none, every series of a metric, and the
collector a PrometheusStorage is attached to."""

from __future__ import annotations

from rfs_otel import (
    MetricsCollector,
    MetricsDashboard,
    PrometheusStorage,
    get_metrics_collector,
    record_counter,
)


def test_dashboard_without_a_collector_reads_the_default_one() -> None:
    """MetricsDashboard() reads the process-wide default collector."""
    record_counter("orders_created_total", 4)
    dashboard = MetricsDashboard()
    assert dashboard.collector is get_metrics_collector()
    assert dashboard.data()["business"]["orders_today"] == 4


def test_counters_and_histograms_are_summed_over_their_label_sets(collector: MetricsCollector) -> None:
    """Requests, orders and revenue add up every labelled series of their metric."""
    dashboard = MetricsDashboard(collector)
    for region, amount in (("eu", 20.0), ("us", 30.0), ("ap", 50.0)):
        collector.counter("orders_created_total", labels={"region": region}).increment()
        collector.histogram("order_value_distribution", labels={"region": region}).observe(amount)
    business = dashboard.data()["business"]
    assert (business["orders_today"], business["revenue_today"]) == (3, 100.0)


def test_active_users_is_none_until_the_gauge_exists(collector: MetricsCollector) -> None:
    """A missing gauge shows as None, not as zero or NaN."""
    assert MetricsDashboard(collector).data()["business"]["active_users"] is None


def test_prometheus_storage_builds_a_public_dashboard_on_its_collector() -> None:
    """The storage's dashboard is a MetricsDashboard reading the collector it was attached to."""
    storage = PrometheusStorage()
    with MetricsCollector(storage=storage) as collector:
        assert isinstance(storage.dashboard, MetricsDashboard)
        assert storage.dashboard.collector is collector
