"""Basic collection: the seed's module-level record helpers and get_all_metrics()."""

from __future__ import annotations

import asyncio

from rfs_otel.monitoring.metrics import get_metrics_collector, record_counter, record_gauge, record_histogram


async def main() -> None:
    record_counter("user_logins", labels={"method": "oauth"})
    record_gauge("memory_usage_bytes", 1024 * 1024 * 512)
    record_histogram("api_response_time", 0.25)

    collector = get_metrics_collector()
    all_metrics = await collector.get_all_metrics()
    for metric in all_metrics:
        print(f"{metric.name}: {metric.value}")


if __name__ == "__main__":
    asyncio.run(main())
