"""The four instruments of the API reference: Counter, Gauge, Histogram and Summary."""

from __future__ import annotations

import random

from rfs_otel.monitoring.metrics import MemoryMetricsStorage, MetricsCollector


def main() -> None:
    collector = MetricsCollector(storage=MemoryMetricsStorage())

    counter = collector.counter(
        name="http_requests_total",
        description="Total HTTP requests",
        labels={"method": "GET", "endpoint": "/api/users"},
    )
    counter.increment()  # +1
    counter.increment(5)  # +5
    print("http_requests_total =", counter.get_value())

    gauge = collector.gauge(name="active_connections", description="Active connections", labels={"service": "database"})
    gauge.set(10)
    gauge.increment(2)
    gauge.decrement(1)
    print("active_connections =", gauge.get_value())

    histogram = collector.histogram(
        name="response_time_seconds",
        buckets=[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
        description="Response time distribution",
    )
    rng = random.Random(1)
    for _ in range(1000):
        histogram.observe(rng.lognormvariate(-1.5, 0.6))
    print(f"response_time_seconds p95 ~ {histogram.get_quantile(0.95):.3f} s (from buckets)")

    summary = collector.summary(
        name="request_duration_seconds", max_age=600, max_samples=10000, description="Request processing time"
    )
    for _ in range(1000):
        summary.observe(rng.lognormvariate(-2.0, 0.5))
    stats = summary.get_statistics()
    print("request_duration_seconds:", {k: round(v, 4) for k, v in stats.items()})
    collector.shutdown()


if __name__ == "__main__":
    main()
