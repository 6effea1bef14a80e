"""A small Django site for the middleware and mounting tests: a few views, the storage under two prefixes."""

from __future__ import annotations

import time
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import include, path

from rfs_otel import PrometheusStorage
from rfs_otel.django import metrics_urls

#: The storages the URLs serve; the tests attach collectors to them.
monitoring = PrometheusStorage(scope_labels=False, target_info=False)
scrape_only = PrometheusStorage(scope_labels=False, target_info=False, dashboard=False)


def user(request: HttpRequest, user_id: int) -> JsonResponse:
    return JsonResponse({"id": user_id})


def boom(request: HttpRequest) -> HttpResponse:
    raise ZeroDivisionError("division by zero in /boom")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def chunks() -> Iterator[bytes]:
        for _ in range(3):
            time.sleep(0.04)
            yield b"x" * 100

    return StreamingHttpResponse(chunks())


urlpatterns = [
    path("users/<int:user_id>", user),
    path("boom", boom),
    path("stream", stream),
    path("monitoring/", include(metrics_urls(monitoring))),
    path("metrics", include(metrics_urls(scrape_only))),
]
