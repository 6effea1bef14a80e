"""``rfs-otel demo``: an async service instrumented as the seed teaches, under generated traffic.

Memory, Prometheus pull (with the live dashboard) and file storages on embedded defaults; alert rules
evaluated in-process; a live status line; stops on Ctrl-C, SIGTERM or after ``--duration``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from .._alerting.evaluator import AlertManager
from .._alerting.rules import AlertRule
from .._collector import MetricsCollector
from .._decorators import CounterMetric, PerformanceMonitored, TimingMetric
from .._default import set_metrics_collector
from .._result import Failure, Result, Success
from .._storages.file import FileMetricsStorage
from .._storages.memory import MemoryMetricsStorage
from .._storages.prometheus import PrometheusStorage

__all__ = ["run_demo"]


class DatabasePool:
    """The seed's DatabasePool: pool size, active connections, query durations, connection errors."""

    def __init__(self, collector: MetricsCollector, rng: random.Random, size: int = 10) -> None:
        self._rng = rng
        self._semaphore = asyncio.Semaphore(size)
        collector.gauge("db_connection_pool_size", "Configured DB pool size").set(size)
        self.active = collector.gauge("db_connections_active", "DB connections in use")
        self.queries = collector.histogram(
            "db_query_duration_seconds",
            buckets=[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0],
            description="DB query duration",
        )
        self.errors = collector.counter("db_connection_errors_total", "Failed DB queries")

    async def execute_query(self, query: str) -> Result[list[dict[str, Any]], str]:
        async with self._semaphore:
            self.active.increment()
            start = time.perf_counter()
            try:
                await asyncio.sleep(self._rng.lognormvariate(-6.0, 0.8))
                if self._rng.random() < 0.02:
                    raise ConnectionError("connection reset by peer")
                return Success([{"query": query}])
            except ConnectionError as e:
                self.errors.increment()
                return Failure(str(e))
            finally:
                self.queries.observe(time.perf_counter() - start)
                self.active.decrement()


class OrderService:
    """The seed's business metrics: orders, order values, payment success rate, inventory per product."""

    def __init__(self, collector: MetricsCollector, db: DatabasePool, rng: random.Random) -> None:
        self._db, self._rng = db, rng
        self.orders = collector.counter("orders_created_total", "Orders created")
        self.values = collector.histogram(
            "order_value_distribution", buckets=[10, 50, 100, 500, 1000, 5000, 10000], description="Order values"
        )
        self.payment_rate = collector.gauge("payment_success_rate", "Share of successful payments")
        self.inventory = collector.gauge("inventory_remaining", "Items left per product")
        self._stock = {f"p{i}": 500 for i in range(5)}
        self._paid = self._attempts = 0

    @PerformanceMonitored(
        timing_metric=TimingMetric("order_service_create_seconds", description="Order creation time"),
        counter_metric=CounterMetric("order_service_create_total", "Orders attempted"),
        error_counter=CounterMetric("order_service_create_errors_total", "Orders that failed"),
        labels={"service": "orders"},
    )
    async def create_order(self) -> Result[dict[str, Any], str]:
        product = self._rng.choice(list(self._stock))
        self._attempts += 1
        result = await self._db.execute_query(f"INSERT INTO orders VALUES ('{product}')")
        if result.is_failure() or self._rng.random() < 0.05:
            self.payment_rate.set(self._paid / self._attempts)
            return Failure("payment declined" if result.is_success() else result.unwrap_err())
        self._paid += 1
        self._stock[product] = max(0, self._stock[product] - 1) or 500
        self.orders.increment()
        self.values.observe(round(self._rng.lognormvariate(4.0, 1.0), 2))
        self.inventory.set(self._stock[product], labels={"product_id": product})
        self.payment_rate.set(self._paid / self._attempts)
        return Success({"product_id": product})


class WebService:
    """The seed's WebService: requests, latency histogram, in-flight gauge, errors by type."""

    def __init__(self, collector: MetricsCollector, db: DatabasePool, orders: OrderService, rng: random.Random) -> None:
        self.collector, self._db, self._orders, self._rng = collector, db, orders, rng
        self.requests = collector.counter("http_requests_total", "Total HTTP requests")
        self.latency = collector.histogram(
            "http_request_duration_seconds",
            buckets=[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0],
            description="HTTP response time",
        )
        self.active = collector.gauge("http_requests_active", "Active HTTP requests")
        self.window = collector.summary(
            "http_request_window_seconds", max_age=60, description="HTTP response time over the last minute"
        )

    async def handle_request(self, path: str) -> Result[dict[str, Any], str]:
        start = time.perf_counter()
        self.active.increment()
        try:
            self.requests.increment()
            if path == "/orders":
                order = await self._orders.create_order()
                if order.is_failure():
                    raise RuntimeError(order.unwrap_err())
            else:
                rows = await self._db.execute_query(f"SELECT * FROM {path.strip('/')}")
                if rows.is_failure():
                    raise ConnectionError(rows.unwrap_err())
            await asyncio.sleep(self._rng.lognormvariate(-4.5, 0.7))
            return Success({"status": 200})
        except Exception as e:
            self.collector.counter(
                "http_errors_total", "Failed HTTP requests", labels={"error_type": type(e).__name__}
            ).increment()
            return Failure(str(e))
        finally:
            elapsed = time.perf_counter() - start
            self.latency.observe(elapsed)
            self.window.observe(elapsed)
            self.active.decrement()


async def _traffic(web: WebService, rate: float, stop: asyncio.Event, rng: random.Random) -> None:
    tasks: set[asyncio.Task[Any]] = set()
    paths = ["/users", "/items", "/orders", "/search"]
    while not stop.is_set():
        task = asyncio.create_task(web.handle_request(rng.choice(paths)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        await asyncio.sleep(rng.expovariate(rate))
    if tasks:
        await asyncio.gather(*tasks)


def _prometheus(port: int, host: str, out: TextIO) -> PrometheusStorage:
    try:
        return PrometheusStorage(port=port, host=host)
    except OSError as exc:
        out.write(f"port {port} is not free ({exc.strerror}); using a free one\n")
        return PrometheusStorage(port=0, host=host)


def _status_line(requests: float, data: dict[str, Any], firing: int) -> str:
    """The live one-line status: requests, rate, p95, error rate, orders, firing alerts."""
    app = data["application"]
    p95 = app["response_time_p95"]
    return (
        f"\rrequests {requests:>8.0f}  rps {app['requests_per_second']:>6.1f}  "
        f"p95 {'   -  ' if p95 is None else f'{p95 * 1e3:6.1f}'} ms  "
        f"errors {app['error_rate'] * 100:5.2f}%  orders {data['business']['orders_today']:>6.0f}  "
        f"alerts {firing} "
    )


async def _main(duration: float | None, rate: float, port: int, host: str, file_path: Path, out: TextIO) -> int:
    rng = random.Random(7)
    prometheus = _prometheus(port, host, out)
    storage = FileMetricsStorage(file_path, max_bytes=5 * 1024 * 1024, backup_count=2)
    collector = MetricsCollector(storage=[MemoryMetricsStorage(), prometheus, storage])
    previous = set_metrics_collector(collector)
    alerts = AlertManager(
        collector,
        [
            AlertRule(
                "HighErrorRate",
                "http_errors_total",
                ">",
                0.05,
                aggregation="ratio",
                denominator="http_requests_total",
                window=60,
                severity="critical",
                summary="More than 5% of requests fail",
            ),
            AlertRule(
                "SlowRequests",
                "http_request_duration_seconds",
                ">",
                0.25,
                aggregation="quantile",
                quantile=0.95,
                window=60,
                summary="p95 latency above 250 ms",
            ),
        ],
        interval=5,
    )
    if prometheus.dashboard is not None:
        prometheus.dashboard.alert_manager = alerts
    db = DatabasePool(collector, rng)
    web = WebService(collector, db, OrderService(collector, db, rng), rng)
    out.write(f"dashboard: {prometheus.dashboard_url}\nmetrics:   {prometheus.url}\nfile:      {file_path}\n")
    out.write("press Ctrl-C to stop\n" if duration is None else f"running for {duration:g} s\n")
    out.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if prometheus.dashboard is not None:
        prometheus.dashboard.data()  # the first snapshot, so the first status line already shows a rate
    traffic = asyncio.create_task(_traffic(web, rate, stop, rng))
    alerts_task = alerts.start_async()
    started = last_store = time.monotonic()
    try:
        while not stop.is_set() and (duration is None or time.monotonic() - started < duration):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            data = prometheus.dashboard.data() if prometheus.dashboard else None
            if time.monotonic() - last_store >= 5:
                await collector.collect_and_store()
                last_store = time.monotonic()
            if data is not None:
                out.write(_status_line(web.requests.get_value(), data, len(alerts.active_alerts())))
                out.flush()
    finally:
        stop.set()
        await traffic
        alerts.stop()
        alerts_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await alerts_task
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        total = web.requests.get_value()
        collector.shutdown()
        set_metrics_collector(previous)
        out.write(f"\ndemo finished: {total:.0f} requests, {collector.series_count()} series, file {file_path}\n")
        out.flush()
    return 0


def run_demo(
    duration: float | None = None,
    rate: float = 200.0,
    port: int = 9464,
    host: str = "127.0.0.1",
    file_path: Path | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Run the demo until Ctrl-C, SIGTERM or ``duration`` seconds; returns the exit code."""
    path = file_path or Path(tempfile.gettempdir()) / "rfs-otel-demo" / "metrics.jsonl"
    try:
        return asyncio.run(_main(duration, rate, port, host, path, out))
    except KeyboardInterrupt:
        out.write("\ninterrupted, stopped cleanly\n")
        return 0
