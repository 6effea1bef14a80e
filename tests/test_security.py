"""Security: credentials never leak; files stay under their path; the endpoint is loopback unless told."""

from __future__ import annotations

import json
import logging
import urllib.request
from pathlib import Path

import pytest

from rfs_otel import (
    AlertManager,
    AlertRule,
    FileMetricsStorage,
    MetricsCollector,
    OTLPStorage,
    PrometheusStorage,
    WebhookNotifier,
)

from .servers import free_port, listens_only_on_loopback

SECRET = "hunter2-s3cr3t"


def _dashboard_json(storage: PrometheusStorage) -> str:
    with urllib.request.urlopen((storage.dashboard_url or "") + "api/dashboard", timeout=5) as response:
        return str(response.read().decode())


def test_push_credentials_never_appear_in_logs_reprs_failures_or_dashboard(caplog: pytest.LogCaptureFixture) -> None:
    """user:password in the push URL and auth=: absent from every log record, repr, Failure and the dashboard."""
    caplog.set_level(logging.DEBUG)
    url_storage = PrometheusStorage(
        push_gateway_url=f"http://admin:{SECRET}@127.0.0.1:{free_port()}", timeout=1, port=0
    )
    auth_storage = PrometheusStorage(
        push_gateway_url=f"http://127.0.0.1:{free_port()}", auth=("admin", SECRET), timeout=1
    )
    with MetricsCollector(storage=[url_storage, auth_storage]) as collector:
        collector.counter("jobs_total").increment()
        result = collector.collect_and_store_sync()
        dashboard = _dashboard_json(url_storage)
        texts = [result.unwrap_err(), repr(url_storage), repr(auth_storage), repr(collector), dashboard, caplog.text]
    assert result.is_failure()
    for text in texts:
        assert SECRET not in text
        assert "admin:" not in text


def test_otlp_header_values_never_appear_in_logs_reprs_or_failures(caplog: pytest.LogCaptureFixture) -> None:
    """An OTLP bearer token in headers= stays out of logs, repr and the Failure message."""
    caplog.set_level(logging.DEBUG)
    endpoint = f"http://127.0.0.1:{free_port()}/v1/metrics"
    storage = OTLPStorage(
        endpoint=endpoint, protocol="http/protobuf", headers={"authorization": f"Bearer {SECRET}"}, timeout=1
    )
    with MetricsCollector(storage=storage) as collector:
        collector.counter("jobs_total").increment()
        result = collector.collect_and_store_sync()
    assert result.is_failure()
    for text in (result.unwrap_err(), repr(storage), repr(collector), caplog.text):
        assert SECRET not in text


def test_otlp_endpoint_credentials_are_hidden() -> None:
    """user:password in an OTLP endpoint URL is not shown in repr or Failure text."""
    storage = OTLPStorage(
        endpoint=f"http://bob:{SECRET}@127.0.0.1:{free_port()}/v1/metrics", protocol="http/protobuf", timeout=1
    )
    with MetricsCollector(storage=storage) as collector:
        result = collector.collect_and_store_sync()
    assert SECRET not in repr(storage)
    assert result.is_success() or SECRET not in result.unwrap_err()


def test_webhook_credentials_stay_out_of_failure_logs(caplog: pytest.LogCaptureFixture) -> None:
    """A webhook URL with credentials: the failure log names the URL without them."""
    caplog.set_level(logging.DEBUG)
    with MetricsCollector() as collector:
        collector.gauge("queue_depth").set(5)
        hook = WebhookNotifier(f"http://ops:{SECRET}@127.0.0.1:{free_port()}/hook", timeout=1, retries=0)
        AlertManager(collector, [AlertRule("deep", "queue_depth", ">", 1)], notifiers=[hook]).evaluate_once()
    assert "could not deliver" in caplog.text
    assert SECRET not in caplog.text and SECRET not in repr(hook)


def test_file_storage_writes_only_under_its_path(tmp_path: Path) -> None:
    """Label values shaped like paths never influence where files go."""
    root = tmp_path / "metrics"
    storage = FileMetricsStorage(root / "m.jsonl", max_bytes=2000, backup_count=2)
    with MetricsCollector(storage=storage) as collector:
        for value in ("../../escape", "/etc/passwd", "..\\..\\win", "m.jsonl.9"):
            collector.counter("paths_total", labels={"path": value}).increment()
            assert collector.collect_and_store_sync().is_success()
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert set(written) <= {"metrics/m.jsonl", "metrics/m.jsonl.1", "metrics/m.jsonl.2", "metrics/m.jsonl.lock"}
    assert not (tmp_path / "escape").exists()


def test_pull_endpoint_is_loopback_unless_told() -> None:
    """The default bind address is 127.0.0.1; another must be asked for explicitly."""
    storage = PrometheusStorage(port=0)
    try:
        assert listens_only_on_loopback(storage.port or 0)
    finally:
        storage.stop()


def test_series_api_serves_label_values_as_json_data() -> None:
    """The JSON API carries label values verbatim (as data), served as application/json with nosniff."""
    storage = PrometheusStorage(port=0)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("x_total", labels={"path": "<script>alert(1)</script>"}).increment()
        with urllib.request.urlopen((storage.dashboard_url or "") + "api/series", timeout=5) as response:
            body = json.loads(response.read())
            headers = dict(response.headers)
    assert body[0]["labels"]["path"] == "<script>alert(1)</script>"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Content-Type-Options"] == "nosniff"
