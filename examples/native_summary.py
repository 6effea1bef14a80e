"""A summary exported as a real summary: Prometheus {quantile="..."} samples, OTLP Summary points.

Usage: python examples/native_summary.py
"""

from __future__ import annotations

import random

from rfs_otel import MemoryMetricsStorage, MetricsCollector, PrometheusStorage


def main() -> None:
    prometheus, memory = PrometheusStorage(), MemoryMetricsStorage()
    with MetricsCollector(storage=[prometheus, memory]) as collector:
        latency = collector.summary("checkout_duration_seconds", description="Checkout time", max_age=600)
        rng = random.Random(1)
        for _ in range(10_000):
            latency.observe(rng.lognormvariate(-2.0, 0.8), labels={"region": "eu"})

        # Prometheus: TYPE summary, one sample per quantile, then _sum and _count.
        for line in prometheus.exposition().decode().splitlines():
            if line.startswith(("# TYPE checkout", "checkout_duration_seconds")):
                print(line)

        # OTLP / memory: one Summary point per series (quantile_values, count, sum).
        data = memory.collect()
        assert data is not None
        for metric in (m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics):
            if metric.name == "checkout_duration_seconds":
                [point] = metric.data.data_points
                print(dict(point.attributes), point.count, dict(point.quantile_values))

        # In process: the same window, with count/sum/min/max exact.
        print(collector.summary("checkout_duration_seconds", labels={"region": "eu"}).get_statistics())

        # The former exposition (a histogram plus <name>_p95 gauges), only when asked for.
        collector.summary("legacy_seconds", export="histogram_and_gauges").observe(0.25)
        print([line for line in prometheus.exposition().decode().splitlines() if line.startswith("legacy_seconds_p95")])


if __name__ == "__main__":
    main()
