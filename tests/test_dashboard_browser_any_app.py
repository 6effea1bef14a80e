"""The dashboard of an app instrumented only with the request middleware, in Debian's headless Chromium.

A Flask app with ``rfs_otel.wsgi.MetricsMiddleware`` and the storage mounted at ``/monitoring`` is served by a
real server and driven with real requests; the page must show its request rate and routes and no business tiles.
The test keeps a screenshot in its tmp dir and at ``build/dashboard-any-app.png`` for people to look at.
"""

from __future__ import annotations

import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rfs_otel import MetricsCollector, PrometheusStorage
from rfs_otel.wsgi import MetricsMiddleware

from .servers import binary
from .test_dashboard_browser import CHROMIUM_FLAGS

SCREENSHOT = Path(__file__).resolve().parent.parent / "build" / "dashboard-any-app.png"


@pytest.fixture
def chromium() -> Iterator[Any]:
    executable = binary("chromium")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


@pytest.fixture
def app_url() -> Iterator[tuple[str, threading.Event]]:
    """A Flask app (middleware only, no business metrics) on a real server; the dashboard at /monitoring/."""
    flask = pytest.importorskip("flask")
    serving = pytest.importorskip("werkzeug.serving")
    dispatcher = pytest.importorskip("werkzeug.middleware.dispatcher")
    storage = PrometheusStorage()
    collector = MetricsCollector(storage=storage)
    app = flask.Flask("shop")

    @app.get("/users/<int:user_id>")
    def user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    @app.get("/fail")
    def fail() -> tuple[str, int]:
        return "no", 500

    app.wsgi_app = MetricsMiddleware(app.wsgi_app, collector)  # type: ignore[method-assign]
    root = dispatcher.DispatcherMiddleware(app, {"/monitoring": storage.wsgi_app()})
    server = serving.make_server("127.0.0.1", 0, root, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stop = threading.Event()
    yield f"http://127.0.0.1:{server.server_port}", stop
    stop.set()
    server.shutdown()
    thread.join(timeout=10)
    collector.shutdown()


def _traffic(base: str, stop: threading.Event) -> threading.Thread:
    def run() -> None:
        for i in range(2000):  # bounded: at most ~40 s
            if stop.wait(0.02):
                return
            path = "/fail" if i % 10 == 0 else f"/users/{i}"
            try:
                urllib.request.urlopen(base + path, timeout=5).read()
            except urllib.error.HTTPError:
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _number(shown: str | None) -> float:
    """The number a tile shows ("12.5", "3.10 %"); 0 for the dash shown before any value."""
    head = (shown or "").split(" ")[0]
    return float(head) if head.replace(".", "", 1).isdigit() else 0.0


def _wait(what: str, check: Any, timeout: float = 20.0) -> None:
    """Poll ``check`` from Python (the page's CSP forbids eval-based waits) until true, within ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.1)


def test_middleware_only_app_shows_rate_routes_no_business_tiles(chromium: Any, app_url: Any, tmp_path: Path) -> None:
    """requests/s > 0, both route templates in the table, no orders/revenue/users tiles, hover and window work."""
    base, stop = app_url
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    traffic = _traffic(base, stop)
    page.goto(base + "/monitoring/")
    _wait("requests/s above 0", lambda: _number(page.text_content("#rps")) > 0)
    _wait("both routes listed", lambda: "/fail" in (page.text_content("#routes") or ""))
    routes = page.text_content("#routes") or ""
    assert "/users/<int:user_id>" in routes and "/users/1" not in routes.replace("/users/<", "")
    for tile in ("#orders", "#revenue", "#users"):
        assert not page.locator(tile).is_visible(), f"{tile} shown for an app without that metric"
    for shown in ("#rps", "#error_rate", "#p95", "#active", "#uptime"):
        assert page.locator(shown).is_visible()
    assert _number(page.text_content("#error_rate")) > 0  # every 10th request is a 500
    _wait("latency bars drawn", lambda: int(page.get_attribute("#chart-latency", "data-bars") or 0) > 5)

    _wait("two chart points", lambda: int(page.get_attribute("#chart-rps", "data-points") or 0) >= 2)
    box = page.locator("#chart-rps").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 20, box["y"] + box["height"] / 2)
    readout = page.text_content("#readout-rps") or ""
    assert "req/s" in readout and ":" in readout  # time and value with its unit
    assert "req/s" in (page.text_content("#now-rps") or "")

    with page.expect_request(lambda request: "api/dashboard?window=15m" in request.url, timeout=10_000):
        page.select_option("#window", "15m")
    _wait("the page to show the 15m window", lambda: page.get_attribute("body", "data-window") == "15m")

    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    shutil.copyfile(tmp_path / "dashboard.png", SCREENSHOT)
    assert SCREENSHOT.stat().st_size > 10_000
    stop.set()
    traffic.join(timeout=10)
    assert problems == []
