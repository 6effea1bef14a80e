"""The seed's Prometheus push integration: push to a Pushgateway periodically.

Usage: python examples/prometheus_push.py [--gateway URL] [--iterations N] [--interval SECONDS]
(the gateway defaults to $RFS_OTEL_PUSHGATEWAY or http://127.0.0.1:9091).
"""

from __future__ import annotations

import argparse
import asyncio
import os

from rfs_otel.monitoring.metrics import MetricsCollector, PrometheusStorage


async def push_metrics_periodically(collector: MetricsCollector, iterations: int, interval: float) -> None:
    for _ in range(iterations):
        try:
            result = await collector.collect_and_store()
            if result.is_success():
                print(f"pushed {result.unwrap()} metrics")
            else:
                print(f"push failed: {result.unwrap_err()}")
        except Exception as e:
            print(f"error while pushing: {e}")
        await asyncio.sleep(interval)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", default=os.environ.get("RFS_OTEL_PUSHGATEWAY", "http://127.0.0.1:9091"))
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args()

    prometheus_storage = PrometheusStorage(push_gateway_url=args.gateway, job_name="rfs_application", timeout=2)
    collector = MetricsCollector(storage=prometheus_storage)
    request_counter = collector.counter(
        "app_requests_total", description="Application requests", labels={"service": "api", "version": "v1"}
    )
    request_counter.increment(10)
    await push_metrics_periodically(collector, args.iterations, args.interval)
    collector.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
