"""PrometheusStorage: a real pull endpoint, a real Pushgateway, promtool, and a real Prometheus scraping."""

from __future__ import annotations

import asyncio
import io
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rfs_otel import MetricsCollector, PrometheusStorage

from .servers import free_port, get_json, listens_only_on_loopback, prometheus, promtool_check_metrics, pushgateway


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if not k.startswith("otel_scope")))
            out[(sample.name, labels)] = sample.value
    return out


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


@pytest.fixture
def served() -> Any:
    storage = PrometheusStorage(port=0)
    with MetricsCollector(storage=storage) as collector:
        yield storage, collector


def test_pull_endpoint_serves_current_values(served: Any) -> None:
    """GET /metrics on the chosen free port shows the counter's current value."""
    storage, collector = served
    collector.counter("http_requests_total", "Total HTTP requests", labels={"method": "GET"}).increment(3)
    assert storage.port and storage.port > 0
    assert storage.url == f"http://127.0.0.1:{storage.port}/metrics"
    samples = _samples(_scrape(storage.url))
    assert samples[("http_requests_total", (("method", "GET"),))] == 3.0


def test_pull_endpoint_binds_loopback_by_default(served: Any) -> None:
    """Without host=, the server listens on 127.0.0.1 only."""
    storage, _ = served
    assert storage.url == f"http://127.0.0.1:{storage.port}/metrics"
    assert listens_only_on_loopback(storage.port or 0)


def test_scrape_sees_increments_made_after_the_previous_scrape(served: Any) -> None:
    """Each scrape collects afresh: values are live, not cached."""
    storage, collector = served
    counter = collector.counter("jobs_total", "Jobs")
    counter.increment()
    _scrape(storage.url)
    counter.increment(4)
    assert _samples(_scrape(storage.url))[("jobs_total", ())] == 5.0


def test_exposition_passes_promtool_and_escapes_label_values(served: Any) -> None:
    """Quotes, backslashes and newlines in label values are escaped; promtool accepts the whole text."""
    storage, collector = served
    collector.counter("http_requests_total", "Total HTTP requests", labels={"path": 'a"b\\c\nd'}).increment()
    h = collector.histogram("http_request_duration_seconds", description="HTTP latency", unit="s")
    h.observe(0.2)
    s = collector.summary("request_processing_seconds", description="Processing time")
    s.observe(0.1)
    collector.gauge("memory_usage_bytes", "Resident memory").set(1024)
    text = storage.exposition()
    assert b'path="a\\"b\\\\c\\nd"' in text
    result = promtool_check_metrics(text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_histogram_uses_seconds_buckets_on_the_endpoint(served: Any) -> None:
    """Default buckets appear as le="0.005" ... le="10.0" (seconds, not milliseconds)."""
    storage, collector = served
    collector.histogram("api_latency_seconds", description="Latency").observe(0.3)
    samples = _samples(storage.exposition().decode())
    assert samples[("api_latency_seconds_bucket", (("le", "0.005"),))] == 0.0
    assert samples[("api_latency_seconds_bucket", (("le", "0.5"),))] == 1.0
    assert samples[("api_latency_seconds_bucket", (("le", "+Inf"),))] == 1.0


def test_summary_quantiles_are_readable_directly(served: Any) -> None:
    """A summary is a native summary family: <name>{quantile="0.95"}, <name>_sum and <name>_count."""
    storage, collector = served
    s = collector.summary("request_duration_seconds", description="Request time")
    for i in range(1, 101):
        s.observe(i / 100)
    samples = _samples(storage.exposition().decode())
    assert samples[("request_duration_seconds_count", ())] == 100
    assert samples[("request_duration_seconds", (("quantile", "0.95"),))] == pytest.approx(s.get_statistics()["p95"])
    assert samples[("request_duration_seconds", (("quantile", "0.5"),))] == pytest.approx(0.505)


def test_two_storages_in_one_process_do_not_collide() -> None:
    """Each storage has its own registry: same metric names in two collectors, separate values."""
    a, b = PrometheusStorage(port=0), PrometheusStorage(port=0)
    with MetricsCollector(storage=a) as ca, MetricsCollector(storage=b) as cb:
        ca.counter("x_total", "X").increment(1)
        cb.counter("x_total", "X").increment(2)
        assert _samples(a.exposition().decode())[("x_total", ())] == 1
        assert _samples(b.exposition().decode())[("x_total", ())] == 2


def test_stop_frees_the_port_and_is_idempotent() -> None:
    """stop() shuts the server; a second stop() is harmless."""
    storage = PrometheusStorage(port=0)
    url = storage.url
    assert url is not None
    storage.stop()
    storage.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)
    assert storage.url is None


def test_wsgi_app_serves_the_exposition() -> None:
    """wsgi_app() can be mounted in an existing WSGI service."""
    storage = PrometheusStorage(push_gateway_url="http://127.0.0.1:9")
    with MetricsCollector(storage=storage) as collector:
        collector.counter("wsgi_hits_total", "Hits").increment(2)
        status: list[str] = []
        body = b"".join(
            storage.wsgi_app()(
                {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": "", "wsgi.input": io.BytesIO()},
                lambda s, h: status.append(s),
            )
        )
    assert status[0].startswith("200")
    assert _samples(body.decode())[("wsgi_hits_total", ())] == 2


def test_asgi_app_serves_the_exposition() -> None:
    """asgi_app() can be mounted in an existing ASGI service."""
    storage = PrometheusStorage(push_gateway_url="http://127.0.0.1:9")
    with MetricsCollector(storage=storage) as collector:
        collector.counter("asgi_hits_total", "Hits").increment(5)
        messages: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        scope = {"type": "http", "method": "GET", "path": "/metrics", "query_string": b"", "headers": []}
        asyncio.run(storage.asgi_app()(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    assert messages[0]["status"] == 200
    assert _samples(body.decode())[("asgi_hits_total", ())] == 5


def test_push_sends_current_values_to_a_real_pushgateway(tmp_path: Path) -> None:
    """collect_and_store() pushes; the Pushgateway then serves the pushed samples under the job."""
    with pushgateway(tmp_path) as gateway:
        storage = PrometheusStorage(push_gateway_url=gateway, job_name="rfs_application")
        with MetricsCollector(storage=storage) as collector:
            collector.counter("app_requests_total", "Requests", labels={"service": "api", "version": "v1"}).increment(7)
            result = asyncio.run(collector.collect_and_store())
            assert result.is_success(), result
        samples = _samples(_scrape(f"{gateway}/metrics"))
        key = (
            "app_requests_total",
            (("instance", ""), ("job", "rfs_application"), ("service", "api"), ("version", "v1")),
        )
        assert samples[key] == 7


def test_push_replaces_the_jobs_group(tmp_path: Path) -> None:
    """PUT semantics: a second push without a metric removes it from the job's group."""
    with pushgateway(tmp_path) as gateway:
        with MetricsCollector(storage=PrometheusStorage(push_gateway_url=gateway, job_name="j")) as first:
            first.counter("old_metric_total", "Old").increment()
            assert first.collect_and_store_sync().is_success()
        with MetricsCollector(storage=PrometheusStorage(push_gateway_url=gateway, job_name="j")) as second:
            second.counter("new_metric_total", "New").increment()
            assert second.collect_and_store_sync().is_success()
        names = {name for name, _ in _samples(_scrape(f"{gateway}/metrics"))}
        assert "new_metric_total" in names
        assert "old_metric_total" not in names


def test_push_to_a_refused_port_is_a_failure_naming_the_url() -> None:
    """Nothing listening: Failure mentioning the gateway URL and the cause, quickly, no exception."""
    port = free_port()
    storage = PrometheusStorage(push_gateway_url=f"http://127.0.0.1:{port}", timeout=2)
    with MetricsCollector(storage=storage) as collector:
        started = time.monotonic()
        result = asyncio.run(collector.collect_and_store())
    assert result.is_failure()
    assert f"http://127.0.0.1:{port}" in result.unwrap_err()
    assert "refused" in result.unwrap_err().lower()
    assert time.monotonic() - started < 2.5


def test_failed_push_loses_nothing(tmp_path: Path) -> None:
    """Increments made while the gateway was down arrive with the next successful push."""
    port = free_port()
    storage = PrometheusStorage(push_gateway_url=f"http://127.0.0.1:{port}", timeout=2)
    with MetricsCollector(storage=storage) as collector:
        counter = collector.counter("orders_created_total", "Orders")
        counter.increment(2)
        assert collector.collect_and_store_sync().is_failure()
        counter.increment(3)
        gateway_dir = tmp_path / "gw"
        gateway_dir.mkdir()
        with pushgateway(gateway_dir, port=port) as gateway:
            assert collector.collect_and_store_sync().is_success()
            samples = _samples(_scrape(f"{gateway}/metrics"))
    assert samples[("orders_created_total", (("instance", ""), ("job", "rfs_application")))] == 5


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Recorder.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(500 if "fail" in self.path else 200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Any:
    _Recorder.seen = []
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_credentials_in_url_become_basic_auth_and_stay_out_of_messages(recorder: str) -> None:
    """user:secret@ in the URL is sent as basic auth, and never appears in repr or Failure text."""
    storage = PrometheusStorage(push_gateway_url=f"http://alice:s3cret@{recorder}", job_name="fail")
    with MetricsCollector(storage=storage) as collector:
        collector.counter("x_total", "X").increment()
        result = collector.collect_and_store_sync()
    assert result.is_failure()
    assert "HTTP 500" in result.unwrap_err()
    assert "s3cret" not in result.unwrap_err() and "alice" not in result.unwrap_err()
    assert "s3cret" not in repr(storage)
    path, authorization = _Recorder.seen[0]
    assert path == "/metrics/job/fail"
    assert authorization is not None and authorization.startswith("Basic ")


def test_grouping_key_selects_the_group(recorder: str) -> None:
    """grouping_key={'instance': 'a'} pushes to /metrics/job/<job>/instance/a."""
    storage = PrometheusStorage(push_gateway_url=f"http://{recorder}", job_name="batch", grouping_key={"instance": "a"})
    with MetricsCollector(storage=storage) as collector:
        collector.counter("x_total", "X").increment()
        assert collector.collect_and_store_sync().is_success()
    assert _Recorder.seen[0][0] == "/metrics/job/batch/instance/a"


def test_storage_without_port_or_push_serves_only_its_apps() -> None:
    """With neither port nor push URL, the storage exposes WSGI/ASGI apps and pushes nothing."""
    storage = PrometheusStorage()
    with MetricsCollector(storage=storage) as collector:
        collector.counter("x_total", "X").increment()
        assert storage.url is None
        assert collector.collect_and_store_sync().is_success()
        assert b"x_total" in storage.exposition()


@pytest.mark.parametrize("port", [-1, 70000, "9464"])
def test_storage_refuses_bad_ports(port: object) -> None:
    """The port must be an int in 0..65535."""
    with pytest.raises(ValueError, match="port must be an int"):
        PrometheusStorage(port=port)  # type: ignore[arg-type]


def test_real_prometheus_scrapes_the_endpoint(tmp_path: Path, served: Any) -> None:
    """A real Prometheus scrapes /metrics and its query API returns the counter's value."""
    storage, collector = served
    collector.counter("scraped_requests_total", "Requests", labels={"service": "api"}).increment(42)
    with prometheus(tmp_path, f"127.0.0.1:{storage.port}") as prom:
        deadline = time.monotonic() + 30
        value = None
        while time.monotonic() < deadline:
            answer = get_json(f"{prom}/api/v1/query?query=scraped_requests_total")
            if answer["data"]["result"]:
                value = float(answer["data"]["result"][0]["value"][1])
                labels = answer["data"]["result"][0]["metric"]
                break
            time.sleep(0.5)
    assert value == 42.0
    assert labels["service"] == "api"
