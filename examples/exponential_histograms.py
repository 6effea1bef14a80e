"""Exponential histograms and per-library scopes: record log-normal latencies into an OTel base-2 exponential
histogram, read quantiles with their error bound, and export a library's metrics under its own scope.

Run: ``python examples/exponential_histograms.py``
"""

from __future__ import annotations

import random

from rfs_otel import MemoryMetricsStorage, MetricsCollector, PrometheusStorage
from rfs_otel.testing import exported_points


def main() -> None:
    memory = MemoryMetricsStorage()
    prometheus = PrometheusStorage(port=0)  # a /metrics endpoint on a free port
    with MetricsCollector(storage=[memory, prometheus]) as collector:
        payments = collector.meter("payments", "1.2")  # this library's own instrumentation scope
        latency = payments.histogram("payment_seconds", description="Payment latency", aggregation="exponential")
        rng = random.Random(7)
        for _ in range(10_000):
            latency.observe(rng.lognormvariate(-3.0, 1.0))

        base = 2**2**-latency.scale
        print(f"scale {latency.scale}: quantiles within {100 * (base - 1) / (base + 1):.1f} % relative error")
        for q in (0.5, 0.9, 0.99):
            print(f"  p{q * 100:g} = {latency.get_quantile(q) * 1000:.2f} ms")

        [point] = exported_points(memory.collect(), "payment_seconds")
        positive = point.positive
        print(f"OTel point: scale={point.scale} offset={positive.offset} buckets={len(positive.bucket_counts)}")
        buckets = [line for line in prometheus.exposition().decode().splitlines() if "payment_seconds_bucket" in line]
        print(f"Prometheus scrape: {len(buckets)} classic buckets, e.g. {buckets[-1]}")


if __name__ == "__main__":
    main()
