"""The shop service on Django with async views, as an ASGI app: ``uvicorn django_app:application``."""

from __future__ import annotations

import asyncio

import django
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from rfs_otel import MetricsCollector, PrometheusStorage, set_metrics_collector
from rfs_otel.django import metrics_urls

LATENCY = 0.12  # seconds an order takes: inside the (0.1, 0.25] bucket of http.server.request.duration

storage = PrometheusStorage(scope_labels=False, target_info=False, dashboard=False)
set_metrics_collector(MetricsCollector(storage=storage))  # the middleware records into the process-wide collector


async def read_order(request: HttpRequest, order_id: int) -> JsonResponse:
    await asyncio.sleep(LATENCY)
    return JsonResponse({"id": order_id})


async def fail(request: HttpRequest) -> JsonResponse:
    raise RuntimeError("the payment provider is down")


urlpatterns = [
    path("orders/<int:order_id>", read_order),
    path("fail", fail),
    path("metrics", include(metrics_urls(storage))),
]

if not settings.configured:
    settings.configure(
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["rfs_otel.django.MetricsMiddleware"],  # async capable: no thread hop for async views
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        SECRET_KEY="example-only",
        DEBUG=False,
    )
    django.setup()

application = get_asgi_application()
