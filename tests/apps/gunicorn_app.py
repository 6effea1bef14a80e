"""A small WSGI service for the pre-fork test: counts and times /work, serves /metrics."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from rfs_otel import MetricsCollector, PrometheusStorage

storage = PrometheusStorage(scope_labels=False, target_info=False, dashboard=False)
collector = MetricsCollector(storage=storage, multiprocess_dir=os.environ["RFS_OTEL_TEST_MP_DIR"])
requests = collector.counter("work_requests_total", "Work requests served")
duration = collector.histogram("work_duration_seconds", buckets=[0.001, 0.01, 0.1], description="Work time")
in_flight = collector.gauge("work_in_flight", "Requests in progress", multiprocess_mode="sum")
metrics_app = storage.wsgi_app()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["PATH_INFO"] == "/metrics":
        return metrics_app(environ, start_response)  # type: ignore[no-any-return]
    start = time.perf_counter()
    in_flight.increment()
    try:
        requests.increment()
        body = str(os.getpid()).encode()
    finally:
        in_flight.decrement()
        duration.observe(time.perf_counter() - start)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
