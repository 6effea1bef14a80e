"""MetricsDashboard: the seed's shape computed for real, and the web routes that serve it."""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from rfs_otel import (
    AlertManager,
    AlertRule,
    DashboardNames,
    MemoryMetricsStorage,
    MetricsCollector,
    MetricsDashboard,
    PrometheusStorage,
)
from rfs_otel.testing import ManualClock

from .servers import self_signed_cert


@pytest.fixture
def wall() -> ManualClock:
    return ManualClock(start=1_700_000_000.0)


def _traffic(collector: MetricsCollector, requests: int, errors: int, latency: float) -> None:
    collector.counter("http_requests_total").increment(requests)
    collector.counter("http_errors_total").increment(errors)
    h = collector.histogram("http_request_duration_seconds")
    for _ in range(requests):
        h.observe(latency)


def test_data_has_exactly_the_seed_shape(collector: MetricsCollector) -> None:
    """system / application / business with the seed's keys."""
    data = asyncio.run(MetricsDashboard(collector).get_dashboard_data())
    assert set(data) == {"system", "application", "business"}
    assert set(data["system"]) == {"uptime", "memory_usage", "cpu_usage"}
    assert set(data["application"]) == {"requests_per_second", "error_rate", "response_time_p95"}
    assert set(data["business"]) == {"orders_today", "revenue_today", "active_users"}
    assert data["system"]["memory_usage"] > 1_000_000


def test_requests_per_second_is_a_windowed_rate(collector: MetricsCollector, wall: ManualClock) -> None:
    """rps covers the last window only: an old burst does not inflate it."""
    dashboard = MetricsDashboard(collector, window=60, clock=wall)
    _traffic(collector, 10_000, 0, 0.01)  # old burst
    dashboard.data()
    for _ in range(12):
        wall.advance(10)
        _traffic(collector, 50, 0, 0.01)  # then 5 per second
        data = dashboard.data()
    assert data["application"]["requests_per_second"] == pytest.approx(5.0)


def test_error_rate_and_p95_over_the_same_window(collector: MetricsCollector, wall: ManualClock) -> None:
    """error rate = errors / requests in the window; p95 from the window's latency observations."""
    dashboard = MetricsDashboard(collector, window=30, clock=wall)
    _traffic(collector, 1000, 500, 5.0)  # slow and failing, but before the window
    dashboard.data()
    wall.advance(31)
    dashboard.data()
    wall.advance(10)
    _traffic(collector, 200, 10, 0.02)
    data = dashboard.data()
    assert data["application"]["error_rate"] == pytest.approx(0.05)
    assert 0.01 <= data["application"]["response_time_p95"] <= 0.025


def test_business_block_counts_today(collector: MetricsCollector, wall: ManualClock) -> None:
    """orders_today, revenue_today from the order metrics; active_users from its gauge."""
    dashboard = MetricsDashboard(collector, clock=wall)
    collector.counter("orders_created_total").increment(3)
    values = collector.histogram("order_value_distribution", buckets=[10, 100, 1000])
    for amount in (20, 30, 50):
        values.observe(amount)
    collector.gauge("active_users").set(42)
    business = dashboard.data()["business"]
    assert business == {"orders_today": 3, "revenue_today": 100, "active_users": 42}


def test_orders_today_restart_at_midnight(collector: MetricsCollector, wall: ManualClock) -> None:
    """On a new day the counts start again from that day's first snapshot."""
    dashboard = MetricsDashboard(collector, clock=wall)
    orders = collector.counter("orders_created_total")
    orders.increment(5)
    dashboard.data()
    wall.advance(86_400)
    dashboard.data()
    orders.increment(2)
    assert dashboard.data()["business"]["orders_today"] == 2


def test_metric_names_are_configurable(collector: MetricsCollector, wall: ManualClock) -> None:
    """DashboardNames points the dashboard at other metrics."""
    calls = collector.counter("api_calls_total")
    default = collector.counter("http_requests_total")
    dashboard = MetricsDashboard(collector, names=DashboardNames(requests="api_calls_total"), clock=wall)
    dashboard.data()
    calls.increment(7)
    default.increment(1000)  # the default name is no longer read
    wall.advance(1)
    assert dashboard.data()["application"]["requests_per_second"] == 7


def test_alerts_block_lists_firing_alerts(collector: MetricsCollector) -> None:
    """With an AlertManager, an 'alerts' block lists the active alerts."""
    collector.gauge("queue_depth").set(99)
    manager = AlertManager(collector, [AlertRule("deep", "queue_depth", ">", 10)])
    manager.evaluate_once()
    data = MetricsDashboard(collector, alert_manager=manager).data()
    assert [a["name"] for a in data["alerts"]] == ["deep"]


def test_export_metrics_json_is_strict_json(collector: MetricsCollector) -> None:
    """export_metrics_json() lists every series with the seed's fields and no NaN tokens."""
    collector.summary("idle_seconds")
    collector.counter("jobs_total", "Jobs").increment()
    text = asyncio.run(MetricsDashboard(collector).export_metrics_json())
    items = json.loads(text)
    assert {i["name"] for i in items} == {"idle_seconds", "jobs_total"}
    assert set(items[0]) == {"name", "type", "value", "labels", "timestamp", "description", "unit"}
    assert "NaN" not in text


def test_system_metrics_feed_the_system_block() -> None:
    """enable_system_metrics() registers OTel's system-metrics instruments; the dashboard reads them."""
    memory = MemoryMetricsStorage()
    with MetricsCollector(storage=memory) as collector:
        collector.enable_system_metrics()
        data = memory.collect()
        names = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
        assert {"process.cpu.utilization", "process.memory.usage", "system.memory.usage"} <= names
        assert {"system.network.io", "system.disk.io", "process.open_file_descriptor.count"} <= names
        system = MetricsDashboard(collector).data()["system"]
        [rss] = [
            p.value
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == "process.memory.usage"
            for p in m.data.data_points
        ]
        assert system["memory_usage"] == pytest.approx(rss, rel=0.2)


def _get(url: str, **kwargs: Any) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5, **kwargs) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def test_pull_endpoint_serves_dashboard_page_and_json() -> None:
    """/ is the dashboard page, /api/dashboard its JSON, /metrics the exposition, all from one server."""
    storage = PrometheusStorage(port=0)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("http_requests_total").increment(3)
        base = storage.dashboard_url
        assert base == f"http://127.0.0.1:{storage.port}/"
        status, page, headers = _get(base)
        assert status == 200 and b"<title>rfs_otel dashboard</title>" in page
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert b"http" not in page.replace(b"http_", b"").replace(b'href="metrics"', b"")  # no CDN, no remote URL
        status, body, _ = _get(base + "api/dashboard")
        payload = json.loads(body)
        assert status == 200 and {"data", "history", "series"} <= set(payload)
        assert payload["series"][0]["name"] == "http_requests_total"
        status, js, _ = _get(base + "static/dashboard.js")
        assert status == 200 and b"innerHTML" not in js
        assert _get(base + "nope")[0] == 404
        assert _get(storage.url or "")[0] == 200


def test_basic_auth_protects_metrics_and_dashboard() -> None:
    """With http_auth, every route answers 401 without credentials and 200 with them."""
    storage = PrometheusStorage(port=0, http_auth=("ops", "s3cret"))
    with MetricsCollector(storage=storage):
        assert _get(storage.url or "")[0] == 401
        assert _get(storage.dashboard_url or "")[0] == 401
        request = urllib.request.Request(storage.url or "", headers={"Authorization": "Basic b3BzOnMzY3JldA=="})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        wrong = urllib.request.Request(storage.url or "", headers={"Authorization": "Basic b3BzOndyb25n"})
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(wrong, timeout=5)


def test_tls_serves_https(tmp_path: Path) -> None:
    """tls_certfile/tls_keyfile serve the endpoint over HTTPS."""
    cert, key = self_signed_cert(tmp_path)
    storage = PrometheusStorage(port=0, tls_certfile=str(cert), tls_keyfile=str(key))
    with MetricsCollector(storage=storage) as collector:
        collector.counter("secure_total").increment()
        assert (storage.url or "").startswith("https://")
        context = ssl.create_default_context(cafile=str(cert))
        status, body, _ = _get(storage.url or "", context=context)
    assert status == 200 and b"secure_total{" in body and b"} 1.0" in body


def test_asgi_app_serves_dashboard_json() -> None:
    """The ASGI app answers /api/dashboard too."""
    storage = PrometheusStorage(push_gateway_url="http://127.0.0.1:9")
    with MetricsCollector(storage=storage) as collector:
        collector.counter("http_requests_total").increment()
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/api/dashboard", "headers": []}
        asyncio.run(storage.asgi_app()(scope, receive, send))
    assert sent[0]["status"] == 200
    assert "application" in json.loads(sent[1]["body"])["data"]


def test_ipv6_loopback_host_is_served() -> None:
    """host='::1' serves on IPv6 loopback and the URL brackets the address."""
    storage = PrometheusStorage(port=0, host="::1")
    with MetricsCollector(storage=storage) as collector:
        collector.counter("v6_total").increment()
        assert (storage.url or "").startswith("http://[::1]:")
        status, body, _ = _get(storage.url or "")
    assert status == 200 and b"v6_total" in body
