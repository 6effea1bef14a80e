"""The seed document's scenarios, run against the library as tests."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from rfs_otel import get_metrics_collector, record_counter, record_gauge, record_histogram, record_summary


def _load(name: str) -> ModuleType:
    path = Path(__file__).parent.parent / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_record_helpers_use_the_default_collector() -> None:
    """record_counter/gauge/histogram/summary land in get_metrics_collector()."""
    record_counter("user_logins", labels={"method": "oauth"})
    record_counter("user_logins", 2, labels={"method": "oauth"})
    record_gauge("memory_usage_bytes", 1024 * 1024 * 512)
    record_histogram("api_response_time", 0.25)
    record_summary("job_seconds", 1.5)
    collector = get_metrics_collector()
    values = {m.name: m.value for m in asyncio.run(collector.get_all_metrics())}
    assert values["user_logins"] == 3
    assert values["memory_usage_bytes"] == 536870912
    assert values["api_response_time"]["count"] == 1
    assert values["job_seconds"]["count"] == 1


def test_web_service_counts_requests_errors_and_in_flight() -> None:
    """WebService: every request counted, failures by error type, in-flight back to 0, latencies observed."""
    module = _load("web_service")
    service = module.WebService()

    async def run() -> list[object]:
        return await asyncio.gather(*(service.handle_request({"fail": i % 5 == 0}) for i in range(20)))

    results = asyncio.run(run())
    assert sum(r.is_failure() for r in results) == 4
    assert service.request_counter.get_value() == 20
    errors = service.collector.counter("http_errors_total", labels={"error_type": "TimeoutError"})
    assert errors.get_value() == 4
    assert service.active_requests.get_value() == 0
    assert service.response_time.get_value()["count"] == 16


def test_database_pool_tracks_queries_and_errors() -> None:
    """DatabasePool: pool size set once, active connections balanced, every query timed, errors counted."""
    module = _load("database_pool")
    pool = module.DatabasePool(pool_size=7)

    async def run() -> list[object]:
        return await asyncio.gather(*(pool.execute_query(q) for q in ["SELECT 1"] * 9 + ["SELECT broken"]))

    results = asyncio.run(run())
    assert sum(r.is_failure() for r in results) == 1
    assert pool.pool_size.get_value() == 7
    assert pool.active_connections.get_value() == 0
    assert pool.query_duration.get_value()["count"] == 10
    assert pool.connection_errors.get_value() == 1


def test_order_service_records_business_metrics() -> None:
    """OrderService: orders counted, values bucketed, inventory gauge per product via per-call labels."""
    module = _load("business_metrics")
    service = module.OrderService()

    async def run() -> None:
        for i in range(6):
            await service.create_order({"product_id": "p2", "amount": 100 * (i + 1)})

    asyncio.run(run())
    assert service.orders_created.get_value() == 3
    assert service.order_values.get_value()["buckets"][500.0] == 3
    assert service.inventory_levels.get_value(labels={"product_id": "p2"}) == 0
    assert service.payment_success_rate.get_value() == 0.5
