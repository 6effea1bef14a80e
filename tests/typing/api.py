"""Type-checked as a user would write it: mypy --strict must accept this file."""

from __future__ import annotations

import asyncio

from rfs_otel import (
    SLO,
    Alert,
    AlertCondition,
    AlertManager,
    AlertRule,
    Counter,
    CounterMetric,
    FileMetricsStorage,
    LoggingNotifier,
    MetricFilter,
    MetricsDashboard,
    OTLPStorage,
    PerformanceMonitored,
    PrometheusStorage,
    TimingMetric,
    to_prometheus_rules,
    Failure,
    Gauge,
    Histogram,
    MemoryMetricsStorage,
    Metric,
    MetricsCollector,
    Result,
    Success,
    Summary,
    get_metrics_collector,
    record_counter,
)


def half(value: int) -> Result[int, str]:
    return Success(value // 2) if value % 2 == 0 else Failure(f"{value} is odd")


async def use() -> None:
    collector = MetricsCollector(storage=MemoryMetricsStorage())
    counter: Counter = collector.counter("jobs_total", description="Jobs", labels={"queue": "high"})
    counter.increment()
    gauge: Gauge = collector.gauge("in_flight")
    gauge.set(3, labels={"worker": "1"})
    histogram: Histogram = collector.histogram("job_seconds", buckets=[0.1, 1.0])
    histogram.observe(0.2)
    p95: float = histogram.get_quantile(0.95)
    summary: Summary = collector.summary("batch_seconds", max_age=60, max_samples=100)
    stats: dict[str, float] = summary.get_statistics()
    records: list[Metric] = await collector.get_all_metrics()
    result: Result[int, str] = await collector.collect_and_store()
    if result.is_success():
        print(result.unwrap() + 1, p95, stats, len(records))
    record_counter("logins_total", labels={"method": "oauth"})
    print(get_metrics_collector(), half(4).map(lambda v: v + 1))
    collector.shutdown()


asyncio.run(use())


@PerformanceMonitored(timing_metric=TimingMetric("typed_seconds"), counter_metric=CounterMetric("typed_total"))
async def typed_handler(value: int) -> Result[int, str]:
    return Success(value)


def alerting_and_dashboard(collector: MetricsCollector) -> None:
    rule = AlertRule("deep", "queue_depth", AlertCondition.GREATER_THAN, 10, for_seconds=30)
    slo = SLO("availability", objective=0.999, good="ok_total", total="all_total")
    manager = AlertManager(collector, [rule, slo], notifiers=[LoggingNotifier()])
    alerts: list[Alert] = manager.evaluate_once()
    remaining: float = manager.error_budget_remaining("availability")
    text: str = to_prometheus_rules([rule, slo], collector)
    dashboard = MetricsDashboard(collector, alert_manager=manager)
    data: dict[str, object] = dashboard.data()
    report: list[dict[str, object]] = collector.cardinality_report()
    print(alerts, remaining, text, data, report, asyncio.run(typed_handler(1)))


def storages() -> MetricsCollector:
    return MetricsCollector(
        storage=[PrometheusStorage(port=0), FileMetricsStorage("/tmp/typed.jsonl"), OTLPStorage(interval=60)],
        filters=[MetricFilter.drop_labels("user_id")],
    )


def retention_and_lookup() -> None:
    collector = MetricsCollector(series_ttl=3600, strict=True)
    counter = collector.counter("jobs_total", series_ttl=60)
    counter.increment(labels={"queue": "mail"})
    collector.histogram("job_seconds").observe(0.5, labels={"queue": "mail"})
    value: float | None = collector.get_sample_value("jobs_total", {"queue": "mail"})
    removed: bool = collector.remove("jobs_total", {"queue": "mail"}) or counter.remove()
    cleared: int = collector.clear("jobs_total")
    rule = AlertRule("low", "stock", "<", 5, by=["region"])
    print(value, removed, cleared, rule)
