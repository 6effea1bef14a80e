"""The dashboard for any app: names detected from what exists, per-route rows, windows, uptime, configuration."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from rfs_otel import DashboardNames, MetricsCollector, MetricsDashboard, PerformanceMonitored, PrometheusStorage
from rfs_otel.testing import ManualClock
from rfs_otel.wsgi import MetricsMiddleware

ROUTES = {"/users/1": "/users/{id}", "/users/2": "/users/{id}", "/boom": "/boom"}


def _wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    status = "500 Internal Server Error" if environ["PATH_INFO"] == "/boom" else "200 OK"
    start_response(status, [("Content-Type", "text/plain")])
    return [b"ok"]


def _drive(app: Any, paths: Iterable[str]) -> None:
    """Send requests through a WSGI app in process (the middleware sees them as a server would hand them over)."""
    for path in paths:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.url_scheme": "http", "SCRIPT_NAME": ""}
        body = app(environ, lambda status, headers, exc_info=None: None)
        list(body)
        getattr(body, "close", lambda: None)()


@pytest.fixture
def middleware_app(collector: MetricsCollector) -> Any:
    """A WSGI app instrumented only with rfs_otel.wsgi.MetricsMiddleware (routes from a fixed table)."""
    return MetricsMiddleware(_wsgi_app, collector, route=lambda environ: ROUTES.get(environ["PATH_INFO"]))


def test_middleware_names_are_detected(collector: MetricsCollector, middleware_app: Any) -> None:
    """With only the middleware's metrics, the dashboard reads http.server.request.duration and its labels."""
    _drive(middleware_app, ["/users/1"])
    names = MetricsDashboard(collector).view()["names"]
    assert names["latency"] == "http.server.request.duration"
    assert names["route_label"] == "http.route" and names["error_label"] == "error.type"
    assert names["active_requests"] == "http.server.active_requests"


def test_middleware_only_app_has_rate_errors_routes_and_no_business(
    collector: MetricsCollector, middleware_app: Any
) -> None:
    """Requests/s and error rate come from the duration histogram; per-route rows; no business metrics."""
    wall = ManualClock(start=1_700_000_000.0)
    dashboard = MetricsDashboard(collector, clock=wall)
    dashboard.view()
    wall.advance(10)
    _drive(middleware_app, ["/users/1", "/users/2"] * 40 + ["/boom"] * 20)
    view = dashboard.view()
    app = view["data"]["application"]
    assert app["requests_per_second"] == pytest.approx(10.0)
    assert app["error_rate"] == pytest.approx(0.2)
    assert app["response_time_p95"] is not None
    available = view["available"]
    assert available["requests"] and available["errors"] and available["latency"] and available["routes"]
    assert not (available["orders"] or available["revenue"] or available["active_users"])
    rows = {row["route"]: row for row in view["routes"]}
    assert set(rows) == {"/users/{id}", "/boom"}
    assert rows["/users/{id}"]["requests_per_second"] == pytest.approx(8.0)
    assert rows["/users/{id}"]["error_rate"] == 0.0 and rows["/boom"]["error_rate"] == 1.0
    users = rows["/users/{id}"]
    assert users["p50"] is not None and users["p50"] <= users["p95"] <= users["p99"]
    latency = view["latency"]
    assert sum(latency["counts"]) == 100 and len(latency["counts"]) == len(latency["bounds"]) + 1


def test_decorator_only_app_is_read_per_function(collector: MetricsCollector) -> None:
    """@PerformanceMonitored()'s function_* metrics feed the rate, and the table is per function."""
    wall = ManualClock(start=1_700_000_000.0)
    dashboard = MetricsDashboard(collector, clock=wall)

    @PerformanceMonitored(collector=collector)
    def checkout() -> None:
        pass

    @PerformanceMonitored(collector=collector)
    def refund() -> None:
        raise ValueError("no")

    checkout()
    dashboard.view()
    wall.advance(4)
    for _ in range(6):
        checkout()
    for _ in range(2):
        with pytest.raises(ValueError):
            refund()
    view = dashboard.view()
    assert view["names"]["requests"] == "function_calls_total"
    assert view["data"]["application"]["requests_per_second"] == pytest.approx(2.0)
    assert view["data"]["application"]["error_rate"] == pytest.approx(0.25)
    rows = {row["route"].rsplit(".", 1)[-1]: row["requests"] for row in view["routes"]}  # qualified names
    assert rows == {"checkout": 6, "refund": 2}


def test_seed_names_are_used_when_they_exist(collector: MetricsCollector) -> None:
    """An app recording http_requests_total... gets the seed's names, and its business tiles when they exist."""
    collector.counter("http_requests_total").increment()
    collector.counter("orders_created_total").increment()
    view = MetricsDashboard(collector).view()
    assert view["names"]["requests"] == "http_requests_total"
    assert view["names"]["latency"] == "http_request_duration_seconds"
    assert view["available"]["orders"] and not view["available"]["revenue"]


def test_the_window_chooses_the_span_of_rates(collector: MetricsCollector, middleware_app: Any) -> None:
    """Over 1m only the last minute's requests count; over 15m the earlier burst is included."""
    wall = ManualClock(start=1_700_000_000.0)
    dashboard = MetricsDashboard(collector, clock=wall)
    dashboard.view()
    wall.advance(60)
    _drive(middleware_app, ["/users/1"] * 1200)  # a burst, then 9 quiet minutes
    dashboard.view()
    wall.advance(540)
    dashboard.view()
    wall.advance(60)
    _drive(middleware_app, ["/users/1"] * 60)
    assert dashboard.view(60)["data"]["application"]["requests_per_second"] == pytest.approx(1.0)
    assert dashboard.view(900)["data"]["application"]["requests_per_second"] == pytest.approx(1260 / 660)
    assert len(dashboard.view(60)["history"]) < len(dashboard.view(900)["history"])


def test_uptime_counts_from_the_process_start(collector: MetricsCollector) -> None:
    """Uptime is the process's age (as the kernel records it), not the dashboard's."""
    psutil = pytest.importorskip("psutil")
    dashboard = MetricsDashboard(collector)
    age = time.time() - psutil.Process().create_time()
    uptime = dashboard.data()["system"]["uptime"]
    assert uptime == pytest.approx(age, abs=1.5)
    assert dashboard.view()["started_at"] == pytest.approx(psutil.Process().create_time(), abs=1.5)


def test_proc_fallback_agrees_with_psutil() -> None:
    """Without psutil the start time is read from /proc/self/stat and /proc/stat's boot time: the same moment."""
    psutil = pytest.importorskip("psutil")
    from rfs_otel._web import process

    from_proc = process._from_proc()  # the Linux fallback itself
    assert from_proc is not None
    assert from_proc == pytest.approx(psutil.Process().create_time(), abs=1.5)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux /proc: elsewhere psutil is the source")
def test_the_start_time_comes_from_proc_before_psutil(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where /proc exists the start time needs no import (a forked child looks it up again, and an import there
    could wait forever on a module another parent thread was importing at the fork)."""
    from rfs_otel._web import process

    def no_psutil() -> float:
        raise AssertionError("psutil asked although /proc has the start time")

    monkeypatch.setattr(process, "_from_psutil", no_psutil)
    monkeypatch.setattr(process, "_started", {})
    assert process.process_start_time() == process._from_proc()


def test_names_are_checked(collector: MetricsCollector) -> None:
    """names= must be a DashboardNames; the error names what it got."""
    with pytest.raises(TypeError, match="DashboardNames, got 'http_requests_total'"):
        MetricsDashboard(collector, names="http_requests_total")  # type: ignore[arg-type]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_prometheus_storage_passes_dashboard_names_and_serves_windows() -> None:
    """PrometheusStorage(dashboard_names=...) configures its dashboard; ?window= is validated by the JSON API."""
    names = DashboardNames(requests="api_calls_total", route_label="op")
    storage = PrometheusStorage(port=0, dashboard_names=names)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("api_calls_total", labels={"op": "get"}).increment(4)
        status, body = _get(f"{storage.dashboard_url}api/dashboard?window=15m")
        assert status == 200
        payload = json.loads(body)
        assert payload["window"]["seconds"] == 900
        assert payload["names"]["requests"] == "api_calls_total"
        assert [row["route"] for row in payload["routes"]] == ["get"]
        status, body = _get(f"{storage.dashboard_url}api/dashboard?window=2d")
        assert status == 400 and b"one of 1m, 5m, 15m, 1h, got '2d'" in body
        assert storage.dashboard is not None and storage.dashboard.names is names


def test_asgi_app_reads_the_window_parameter(collector: MetricsCollector) -> None:
    """The ASGI app passes its query string to the JSON API as the WSGI app does."""
    storage = PrometheusStorage()
    storage.attach(collector)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/api/dashboard", "query_string": b"window=1h", "headers": []}
    asyncio.run(storage.asgi_app()(scope, receive, send))
    assert sent[0]["status"] == 200
    assert json.loads(sent[1]["body"])["window"]["seconds"] == 3600


def test_example_shows_routes_and_no_business_tiles() -> None:
    """examples/dashboard_any_app.py lists both route templates with their error rates and no demo tiles."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    script = root / "examples" / "dashboard_any_app.py"
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "/checkout 60.0 errors 25%" in proc.stdout and "/users/{id} 60.0 errors 0%" in proc.stdout
    assert "orders" not in proc.stdout and "'routes'" in proc.stdout


def test_views_while_the_sampler_runs(collector: MetricsCollector, middleware_app: Any) -> None:
    """Page requests from several threads while the background sampler runs: every answer is whole."""
    dashboard = MetricsDashboard(collector)
    dashboard.start(interval=0.001)
    barrier = threading.Barrier(3)
    failures: list[BaseException] = []

    def read() -> None:
        barrier.wait(timeout=5)
        try:
            for _ in range(100):
                assert "routes" in dashboard.view(60)
                _drive(middleware_app, ["/users/1"])
        except BaseException as exc:  # a failure in a thread is reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=5)
    for thread in threads:
        thread.join(timeout=30)
    dashboard.stop()
    assert failures == [] and not any(t.is_alive() for t in threads)
    assert dashboard.view()["routes"][0]["route"] == "/users/{id}"
