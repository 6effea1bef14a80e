"""The seed's DatabasePool: pool-size and active-connection gauges, query histogram, error counter."""

from __future__ import annotations

import asyncio
import random
import time

from rfs_otel.core.result import Failure, Result, Success
from rfs_otel.monitoring.metrics import get_metrics_collector


class DatabasePool:
    def __init__(self, pool_size: int = 10) -> None:
        collector = get_metrics_collector()
        self.pool_size = collector.gauge("db_connection_pool_size", description="Configured pool size")
        self.active_connections = collector.gauge("db_connections_active", description="Connections in use")
        self.query_duration = collector.histogram(
            "db_query_duration_seconds",
            buckets=[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0],
            description="Database query duration",
        )
        self.connection_errors = collector.counter("db_connection_errors_total", description="Failed queries")
        self.pool_size.set(pool_size)

    async def execute_query(self, query: str) -> Result[list[dict[str, object]], str]:
        start = time.perf_counter()
        self.active_connections.increment()
        try:
            await asyncio.sleep(random.uniform(0.0, 0.005))
            if "broken" in query:
                raise ConnectionError("connection reset by peer")
            rows: list[dict[str, object]] = [{"id": 1}]
            return Success(rows)
        except Exception as e:
            self.connection_errors.increment()
            return Failure(str(e))
        finally:
            self.query_duration.observe(time.perf_counter() - start)
            self.active_connections.decrement()


async def main() -> None:
    pool = DatabasePool(pool_size=5)
    queries = ["SELECT 1"] * 20 + ["SELECT broken"] * 2
    results = await asyncio.gather(*(pool.execute_query(q) for q in queries))
    print("failed queries:", sum(r.is_failure() for r in results))
    print("db_connection_errors_total =", pool.connection_errors.get_value())
    print("db_query_duration_seconds p95 =", round(pool.query_duration.get_quantile(0.95), 4))


if __name__ == "__main__":
    asyncio.run(main())
