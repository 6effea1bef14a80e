"""The seed's WebService: request counter, latency histogram, in-flight gauge, errors by type."""

from __future__ import annotations

import asyncio
import random
import time

from rfs_otel.core.result import Failure, Result, Success
from rfs_otel.monitoring.metrics import get_metrics_collector


class WebService:
    def __init__(self) -> None:
        self.collector = get_metrics_collector()
        self.request_counter = self.collector.counter(
            "http_requests_total", description="Total HTTP requests", labels={"service": "web"}
        )
        self.response_time = self.collector.histogram(
            "http_request_duration_seconds",
            buckets=[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0],
            description="HTTP response time",
        )
        self.active_requests = self.collector.gauge("http_requests_active", description="Active HTTP requests")

    async def handle_request(self, request: dict[str, object]) -> Result[dict[str, object], str]:
        start_time = time.time()
        self.active_requests.increment()
        try:
            self.request_counter.increment()
            response = await self._process_request(request)
            self.response_time.observe(time.time() - start_time)
            return Success(response)
        except Exception as e:
            error_counter = self.collector.counter("http_errors_total", labels={"error_type": type(e).__name__})
            error_counter.increment()
            return Failure(str(e))
        finally:
            self.active_requests.decrement()

    async def _process_request(self, request: dict[str, object]) -> dict[str, object]:
        await asyncio.sleep(random.uniform(0.0, 0.01))
        if request.get("fail"):
            raise TimeoutError("upstream timed out")
        return {"status": 200, "path": request.get("path")}


async def main() -> None:
    service = WebService()
    results = await asyncio.gather(
        *(service.handle_request({"path": f"/items/{i}", "fail": i % 10 == 0}) for i in range(50))
    )
    print("successes:", sum(r.is_success() for r in results), "failures:", sum(r.is_failure() for r in results))
    for metric in await service.collector.get_all_metrics():
        print(f"{metric.name}{metric.labels}: {metric.value}")


if __name__ == "__main__":
    asyncio.run(main())
