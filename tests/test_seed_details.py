"""Small details of the seed's API that users write without thinking."""

from __future__ import annotations

import asyncio

from rfs_otel import PerformanceMonitored, get_metrics_collector


def test_bare_decorator_works_like_the_called_one() -> None:
    """@PerformanceMonitored without parentheses times, counts and names the function like @PerformanceMonitored()."""

    @PerformanceMonitored
    def add(a: int, b: int) -> int:
        return a + b

    @PerformanceMonitored
    async def fetch() -> str:
        return "done"

    assert add(2, 3) == 5
    assert asyncio.run(fetch()) == "done"
    assert add.__name__ == "add"
    values = {(m.name, m.labels.get("function")): m.value for m in get_metrics_collector().snapshot()}
    assert values[("function_calls_total", add.__qualname__)] == 1
    assert values[("function_calls_total", fetch.__qualname__)] == 1
    assert values[("function_duration_seconds", add.__qualname__)]["count"] == 1
