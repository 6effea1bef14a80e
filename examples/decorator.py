"""The seed's @PerformanceMonitored example: create_user returns Failure instead of raising."""

from __future__ import annotations

import asyncio
from typing import Any

from rfs_otel.core.result import Failure, Result, Success
from rfs_otel.monitoring.metrics import get_metrics_collector
from rfs_otel.monitoring.performance_decorators import CounterMetric, PerformanceMonitored, TimingMetric

_users: dict[str, dict[str, Any]] = {}


async def save_user_to_db(user_data: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(0.001)
    if user_data["email"] in _users:
        raise ValueError(f"duplicate email {user_data['email']}")
    _users[user_data["email"]] = user_data
    return {"id": len(_users), **user_data}


@PerformanceMonitored(
    timing_metric=TimingMetric("user_service_create_time"),
    counter_metric=CounterMetric("user_service_create_total"),
    error_counter=CounterMetric("user_service_create_errors"),
    labels={"service": "user", "version": "v1"},
)
async def create_user(user_data: dict[str, Any]) -> Result[dict[str, Any], str]:
    try:
        user = await save_user_to_db(user_data)
        return Success(user)
    except Exception as e:
        return Failure(str(e))


async def main() -> None:
    for email in ["a@example.com", "b@example.com", "a@example.com"]:
        print(await create_user({"email": email}))
    for metric in await get_metrics_collector().get_all_metrics():
        value = metric.value["count"] if isinstance(metric.value, dict) else metric.value
        print(f"{metric.name}{metric.labels} = {value}")


if __name__ == "__main__":
    asyncio.run(main())
