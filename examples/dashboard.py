"""The seed's MetricsDashboard, computed for real, and the live dashboard page.

Usage: python examples/dashboard.py [--serve-seconds 0]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from rfs_otel import MetricsCollector, MetricsDashboard, PrometheusStorage


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve-seconds", type=float, default=0.0, help="keep the page up this long")
    args = parser.parse_args()

    storage = PrometheusStorage(port=0)  # also serves the live dashboard page at /
    collector = MetricsCollector(storage=storage)
    requests = collector.counter("http_requests_total", "Total HTTP requests")
    errors = collector.counter("http_errors_total", "Failed HTTP requests")
    latency = collector.histogram("http_request_duration_seconds", description="HTTP response time")
    orders = collector.counter("orders_created_total", "Orders created")
    values = collector.histogram("order_value_distribution", buckets=[10, 50, 100, 500, 1000], description="Values")
    collector.gauge("active_users", "Users with a session").set(17)

    dashboard = MetricsDashboard(collector, window=10)
    rng = random.Random(3)
    await dashboard.get_dashboard_data()  # the first snapshot: rates start from here
    for _ in range(20):
        await asyncio.sleep(0.05)
        for _ in range(50):
            requests.increment()
            latency.observe(rng.lognormvariate(-3.5, 0.5))
            if rng.random() < 0.03:
                errors.increment()
            if rng.random() < 0.1:
                orders.increment()
                values.observe(round(rng.uniform(10, 300), 2))
    data = await dashboard.get_dashboard_data()
    for block, fields in data.items():
        print(block, {k: round(v, 4) if isinstance(v, float) else v for k, v in fields.items()})
    print("export_metrics_json:", len(await dashboard.export_metrics_json()), "characters")
    print(f"live dashboard: {storage.dashboard_url}")
    time.sleep(args.serve_seconds)
    collector.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
