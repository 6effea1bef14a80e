"""Export to any OTLP collector: synchronous collect_and_store() reporting Success or Failure.

Usage: python examples/otlp_export.py [--endpoint http://127.0.0.1:4317] [--protocol grpc|http/protobuf]
With no collector listening, the export fails cleanly within the timeout and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from rfs_otel.monitoring.metrics import MetricsCollector, OTLPStorage


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", default=os.environ.get("RFS_OTEL_OTLP_ENDPOINT", "http://127.0.0.1:4317"))
    parser.add_argument("--protocol", default="grpc", choices=["grpc", "http/protobuf"])
    args = parser.parse_args()

    storage = OTLPStorage(endpoint=args.endpoint, protocol=args.protocol, insecure=True, timeout=2)
    collector = MetricsCollector(storage=storage)
    collector.counter("orders_created_total", description="Orders created").increment(5)
    collector.histogram("order_value_distribution", buckets=[10, 50, 100, 500], description="Order values").observe(75)
    result = await collector.collect_and_store()
    if result.is_success():
        print(f"exported {result.unwrap()} series to {args.endpoint}")
    else:
        print(f"export failed: {result.unwrap_err()}")
    collector.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
