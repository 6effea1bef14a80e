"""The live dashboard in a real headless Chromium (Debian's package, driven by Playwright)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rfs_otel import MetricsCollector, PrometheusStorage

from .servers import binary

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser() -> Iterator[Any]:
    executable = binary("chromium")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


@pytest.fixture
def service() -> Iterator[tuple[PrometheusStorage, MetricsCollector, threading.Event]]:
    storage = PrometheusStorage(port=0)
    collector = MetricsCollector(storage=storage)
    stop = threading.Event()
    collector.counter("http_requests_total", "Requests")
    collector.histogram("http_request_duration_seconds", description="Latency")
    yield storage, collector, stop
    stop.set()
    collector.shutdown()


def _wait_updates(page: Any, at_least: int, timeout: float = 20.0) -> None:
    """Poll the page's update counter from Python (the page's CSP forbids eval-based waits)."""
    deadline = time.monotonic() + timeout
    while int(page.get_attribute("body", "data-updates") or 0) < at_least:
        assert time.monotonic() < deadline, f"dashboard did not refresh {at_least} times in {timeout} s"
        time.sleep(0.1)


def _start_traffic(collector: MetricsCollector, stop: threading.Event) -> threading.Thread:
    requests = collector.counter("http_requests_total")
    latency = collector.histogram("http_request_duration_seconds")

    def run() -> None:
        for i in range(4000):  # bounded: at most ~40 s of traffic
            if stop.wait(0.01):
                return
            requests.increment(5)
            latency.observe(0.02 + (i % 10) / 1000)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_dashboard_loads_charts_and_updates(browser: Any, service: Any, tmp_path: Path) -> None:
    """No console errors; charts get points; the request rate changes as traffic arrives; a screenshot is kept."""
    storage, collector, stop = service
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(storage.dashboard_url)
    _wait_updates(page, 1)
    before = page.text_content("#rps")
    thread = _start_traffic(collector, stop)
    _wait_updates(page, 4)
    page.wait_for_selector("#chart-rps polyline", state="attached", timeout=15_000)
    after = page.text_content("#rps")
    assert float(after or 0) > 0
    assert after != before
    assert page.locator("#series tr").count() >= 2
    assert int(page.get_attribute("#chart-rps", "data-points") or 0) >= 2
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    stop.set()
    thread.join()
    assert problems == []


def test_label_values_are_never_rendered_as_html(browser: Any, service: Any) -> None:
    """A <script> label value shows up as text in the series table and never runs."""
    storage, collector, _ = service
    hostile = "<script>window.__pwned = 1</script><img src=x onerror='window.__pwned=2'>"
    collector.counter("hostile_total", labels={"path": hostile}).increment()
    page = browser.new_page()
    page.goto(storage.dashboard_url)
    _wait_updates(page, 1)
    assert page.evaluate("window.__pwned") is None
    assert hostile in (page.text_content("#series") or "")
    assert page.locator("#series script").count() == 0
    assert page.locator("#series img").count() == 0
