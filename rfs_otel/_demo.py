"""The demo service: the seed's WebService/DatabasePool/OrderService patterns under generated traffic."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from typing import TextIO

from ._collector import MetricsCollector
from ._memory_storage import MemoryMetricsStorage
from ._result import Failure, Result, Success

__all__ = ["run_demo"]


class _DemoService:
    """A small async service instrumented as the seed document teaches."""

    def __init__(self, collector: MetricsCollector, rng: random.Random) -> None:
        self._rng = rng
        self.requests = collector.counter("http_requests_total", "Total HTTP requests", labels={"service": "web"})
        self.latency = collector.histogram(
            "http_request_duration_seconds",
            buckets=[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0],
            description="HTTP response time",
        )
        self.active = collector.gauge("http_requests_active", "Active HTTP requests")
        self.errors = collector.counter("http_errors_total", "Failed HTTP requests", labels={"service": "web"})
        self.queries = collector.histogram(
            "db_query_duration_seconds", buckets=[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0], description="DB queries"
        )
        self.pool = collector.gauge("db_connection_pool_size", "Configured DB pool size")
        self.pool.set(10)
        self.orders = collector.counter("orders_created_total", "Orders created")
        self.order_values = collector.histogram(
            "order_value_distribution", buckets=[10, 50, 100, 500, 1000, 5000, 10000], description="Order values"
        )
        self.summary = collector.summary("request_processing_seconds", max_age=60, description="Request time window")

    async def handle(self) -> Result[dict[str, object], str]:
        start = time.perf_counter()
        self.active.increment()
        self.requests.increment()
        try:
            query_time = self._rng.lognormvariate(-6.0, 0.8)
            await asyncio.sleep(query_time)
            self.queries.observe(query_time)
            if self._rng.random() < 0.03:
                raise ConnectionError("database connection reset")
            if self._rng.random() < 0.2:
                self.orders.increment()
                self.order_values.observe(round(self._rng.lognormvariate(4.0, 1.0), 2))
            await asyncio.sleep(self._rng.lognormvariate(-4.5, 0.7))
            return Success({"status": 200})
        except ConnectionError as exc:
            self.errors.increment()
            return Failure(str(exc))
        finally:
            elapsed = time.perf_counter() - start
            self.latency.observe(elapsed)
            self.summary.observe(elapsed)
            self.active.decrement()


async def _traffic(service: _DemoService, rate: float, stop: asyncio.Event) -> None:
    tasks: set[asyncio.Task[object]] = set()
    while not stop.is_set():
        task = asyncio.create_task(service.handle())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        await asyncio.sleep(1.0 / rate)
    await asyncio.gather(*tasks)


async def _main(duration: float | None, rate: float, out: TextIO) -> int:
    collector = MetricsCollector(storage=[MemoryMetricsStorage()])
    service = _DemoService(collector, random.Random(7))
    stop = asyncio.Event()
    traffic = asyncio.create_task(_traffic(service, rate, stop))
    started = time.monotonic()
    last_requests, last_time = 0.0, started
    try:
        while duration is None or time.monotonic() - started < duration:
            await asyncio.sleep(1.0)
            result = await collector.collect_and_store()
            now = time.monotonic()
            total = service.requests.get_value()
            rps = (total - last_requests) / (now - last_time)
            last_requests, last_time = total, now
            stats = service.summary.get_statistics()
            status = "stored" if result.is_success() else f"store failed: {result.unwrap_err()}"
            out.write(
                f"\rrequests {total:>7.0f}  rps {rps:>6.1f}  p95 {stats['p95'] * 1e3:>6.1f} ms  "
                f"errors {service.errors.get_value():>5.0f}  orders {service.orders.get_value():>5.0f}  [{status}] "
            )
            out.flush()
    finally:
        stop.set()
        await traffic
        out.write("\n")
        collector.shutdown()
    out.write(f"demo finished: {service.requests.get_value():.0f} requests, {collector.series_count()} series\n")
    return 0


def run_demo(duration: float | None = None, rate: float = 200.0, out: TextIO = sys.stdout) -> int:
    """Run the demo until Ctrl-C or ``duration`` seconds; returns the exit code."""
    try:
        return asyncio.run(_main(duration, rate, out))
    except KeyboardInterrupt:
        out.write("\ninterrupted, stopped cleanly\n")
        return 0
