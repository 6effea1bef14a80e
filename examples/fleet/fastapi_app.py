"""The shop service on FastAPI: ``uvicorn fastapi_app:app`` (run from examples/fleet/)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from rfs_otel import MetricsCollector, PrometheusStorage
from rfs_otel.asgi import MetricsMiddleware

LATENCY = 0.12  # seconds an order takes: inside the (0.1, 0.25] bucket of http.server.request.duration

storage = PrometheusStorage(scope_labels=False, target_info=False, dashboard=False)
collector = MetricsCollector(storage=storage)

app = FastAPI()
app.add_middleware(MetricsMiddleware, collector=collector)
app.mount("/metrics", storage.asgi_app())


@app.get("/orders/{order_id}")
async def read_order(order_id: int) -> dict[str, int]:
    await asyncio.sleep(LATENCY)
    return {"id": order_id}


@app.get("/fail")
async def fail() -> dict[str, str]:
    raise RuntimeError("the payment provider is down")
