"""Reading the HTTP middleware's metrics back in tests."""

from __future__ import annotations

from typing import Any

from rfs_otel import MetricsCollector

DURATION = "http.server.request.duration"


def requests(collector: MetricsCollector) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(method, route, status) -> the duration histogram's labels and value, for every recorded series."""
    found = {}
    for metric in collector.snapshot():
        if metric.name == DURATION:
            labels = metric.labels
            key = (labels["http.request.method"], labels["http.route"], labels["http.response.status_code"])
            found[key] = {"labels": labels, **metric.value}
    return found


def active(collector: MetricsCollector) -> float:
    """The sum of every http.server.active_requests series."""
    return sum(m.value for m in collector.snapshot() if m.name == "http.server.active_requests")
