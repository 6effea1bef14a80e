"""Django with rfs_otel.django.MetricsMiddleware and the storage's /metrics and dashboard under /monitoring/."""

from __future__ import annotations

import django
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from rfs_otel import MetricsCollector, PrometheusStorage, set_metrics_collector
from rfs_otel.django import metrics_urls

storage = PrometheusStorage(scope_labels=False, target_info=False)
collector = MetricsCollector(storage=storage)
set_metrics_collector(collector)  # the middleware records into the process-wide collector


def read_user(request: HttpRequest, user_id: int) -> JsonResponse:
    return JsonResponse({"id": user_id})


urlpatterns = [
    path("users/<int:user_id>", read_user),
    path("monitoring/", include(metrics_urls(storage))),  # page /monitoring/, scrape /monitoring/metrics
]

settings.configure(
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["rfs_otel.django.MetricsMiddleware"],
    ALLOWED_HOSTS=["testserver", "127.0.0.1", "localhost"],
    SECRET_KEY="example-only",
    RFS_OTEL={"excluded_paths": ["/monitoring", "/health"]},
)
django.setup()


def main() -> None:
    from django.test import Client  # needs the settings above

    client = Client()  # in production: any WSGI/ASGI server running this project
    for user_id in (1, 42, 1234):
        client.get(f"/users/{user_id}")
    page = client.get("/monitoring/metrics").content.decode()
    collector.shutdown()
    for line in page.splitlines():
        if line.startswith("http_server_request_duration_seconds_count"):
            print(line)  # one series for /users/<int:user_id>, count 3.0


if __name__ == "__main__":
    main()
