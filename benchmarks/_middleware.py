"""HTTP middleware overhead per request: rfs_otel.asgi against prometheus-fastapi-instrumentator and OTel's ASGI
middleware, each on the same FastAPI app driven by a real ASGI client (httpx's ASGITransport).

Overhead = a variant's time per request minus the bare app's, measured in interleaved rounds; the ratio is
rfs_otel's overhead over the faster peer's. Each variant records into its own registry or meter provider.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import httpx
from _timing import Row, Settings
from fastapi import FastAPI
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator

from rfs_otel import MetricsCollector
from rfs_otel.asgi import MetricsMiddleware


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/users/{user_id}")
    async def user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    return app


def variants() -> dict[str, Any]:
    """The same app bare and under each middleware."""
    bare = _app()
    ours = _app()
    ours.add_middleware(MetricsMiddleware, collector=MetricsCollector())
    instrumentator = _app()
    Instrumentator(registry=CollectorRegistry()).instrument(instrumentator)
    otel = OpenTelemetryMiddleware(
        _app(), meter_provider=MeterProvider([InMemoryMetricReader()]), tracer_provider=TracerProvider()
    )
    return {"bare": bare, "rfs_otel": ours, "instrumentator": instrumentator, "otel": otel}


async def _per_request(app: Any, n: int) -> float:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for i in range(20):
            await client.get(f"/users/{i}")
        start = time.perf_counter()
        for i in range(n):
            await client.get(f"/users/{i % 50}")
        return (time.perf_counter() - start) / n


def middleware_rows(settings: Settings) -> list[Row]:
    apps = variants()
    n = 200 if settings.quick else 2000
    times: dict[str, list[float]] = {name: [] for name in apps}
    names = list(apps)
    for index in range(settings.rounds):
        order = names if index % 2 == 0 else names[::-1]
        for name in order:
            times[name].append(asyncio.run(_per_request(apps[name], n)))
    bare = statistics.median(times["bare"])
    overhead = {name: statistics.median(t) - bare for name, t in times.items() if name != "bare"}
    peer_name = min(("instrumentator", "otel"), key=lambda name: overhead[name])
    ours, peer = overhead["rfs_otel"], overhead[peer_name]
    for name, value in overhead.items():
        print(f"  HTTP middleware overhead {name}: {value * 1e6:.1f} us per request (bare app {bare * 1e6:.1f} us)")
    return [
        Row(
            "HTTP middleware overhead per request",
            "rfs_otel.asgi.MetricsMiddleware",
            f"{'prometheus-fastapi-instrumentator' if peer_name == 'instrumentator' else 'OTel ASGI middleware'}"
            " (the faster peer)",
            ours * 1e9,
            peer * 1e9,
            ours / peer if peer > 0 else None,
            0.5,
            note="FastAPI app through httpx ASGITransport; overhead = time per request minus the bare app's",
        )
    ]
