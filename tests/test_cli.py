"""The command line: demo, snapshot and lint."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rfs_otel import FileMetricsStorage, MetricsCollector, PrometheusStorage
from rfs_otel.testing import wait_until

from .entry_points import cli_main
from .servers import wait_http


def test_demo_serves_dashboard_writes_file_and_reports_traffic(tmp_path: Path) -> None:
    """The demo generates requests, prints the URLs and a status line, writes the file storage, exits 0."""
    path = tmp_path / "demo.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "rfs_otel", "demo", "--duration", "3", "--rate", "100", "--port", "0", "--file", path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "dashboard: http://127.0.0.1:" in text and "/metrics" in text
    assert "rps" in text and "p95" in text
    finished = [line for line in text.splitlines() if line.startswith("demo finished")]
    assert finished and int(finished[0].split()[2]) > 50
    snapshots = list(FileMetricsStorage.read(path))
    names = {m.name for s in snapshots for rm in s.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert {"http_requests_total", "order_service_create_seconds", "db_query_duration_seconds"} <= names


def test_demo_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """SIGTERM ends the demo with exit code 0 and its closing line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rfs_otel", "demo", "--port", "0", "--file", str(tmp_path / "m.jsonl")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    metrics = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("metrics:"):
            metrics = line.split()[1]
        if "press Ctrl-C" in line:
            break
    wait_http(metrics, timeout=30)

    def serving_traffic() -> bool:  # traffic starts after the demo's signal handlers are installed
        with urllib.request.urlopen(metrics, timeout=5) as answer:
            text = answer.read().decode()
        return any(
            s.value > 0
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "http_requests_total"
        )

    wait_until(serving_traffic, timeout=30)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "demo finished" in stdout


def test_python_dash_m_rfs_otel_demo_exits_cleanly(tmp_path: Path) -> None:
    """python -m rfs_otel demo --duration 1 exits 0."""
    proc = subprocess.run(
        [sys.executable, "-m", "rfs_otel", "demo", "--duration", "1", "--port", "0", "--file", str(tmp_path / "m")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "demo finished" in proc.stdout


def test_cli_rejects_a_negative_duration() -> None:
    """--duration must be positive; argparse exits 2 with the bad value named."""
    proc = subprocess.run(
        [sys.executable, "-m", "rfs_otel", "demo", "--duration", "-3"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "'-3'" in proc.stderr


def test_snapshot_of_a_live_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    """rfs-otel snapshot URL prints the current samples as a table, or JSON with --json."""
    storage = PrometheusStorage(port=0)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("http_requests_total", "Requests", labels={"method": "GET"}).increment(4)
        assert cli_main(["snapshot", storage.url or ""]) == 0
        table = capsys.readouterr().out
        assert cli_main(["snapshot", "--json", storage.url or ""]) == 0
        rows = json.loads(capsys.readouterr().out)
    assert any(
        line.startswith("http_requests_total") and 'method="GET"' in line and line.endswith("4.0")
        for line in table.splitlines()
    )
    assert {"name": "http_requests_total", "type": "counter", "labels": {"method": "GET"}, "value": 4.0} in rows


def test_snapshot_of_a_stored_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """rfs-otel snapshot FILE shows the newest snapshot of a FileMetricsStorage file."""
    path = tmp_path / "m.jsonl"
    with MetricsCollector(storage=FileMetricsStorage(path)) as collector:
        jobs = collector.counter("jobs_total", "Jobs", labels={"queue": "high"})
        jobs.increment(2)
        collector.collect_and_store_sync()
        jobs.increment(3)
    assert cli_main(["snapshot", "--json", str(path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [{"name": "jobs_total", "type": "sum", "labels": {"queue": "high"}, "value": 5}]


def test_snapshot_of_something_missing_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    """A path that does not exist exits 2 with a message naming it."""
    assert cli_main(["snapshot", "/no/such/file"]) == 2
    assert "'/no/such/file'" in capsys.readouterr().err


def test_lint_reports_naming_unit_and_cardinality_problems(capsys: pytest.CaptureFixture[str]) -> None:
    """rfs-otel lint flags generic names, missing units, unbounded labels; exits 1 on errors."""
    storage = PrometheusStorage(port=0)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("requests").increment()
        collector.histogram("api_response_time", description="API time").observe(0.1)
        for i in range(20):
            collector.counter("user_logins_total", "Logins", labels={"user_id": str(10_000 + i)}).increment()
        collector.gauge("memory_usage", "Resident memory").set(1)
        collector.counter("http_requests_total", "Requests", labels={"method": "GET"}).increment()
        code = cli_main(["lint", storage.url or ""])
    out = capsys.readouterr().out
    assert code == 1
    assert "error: requests_total: name is too generic" in out
    assert "warning: api_response_time: a duration should carry its unit" in out
    assert "error: user_logins_total: label 'user_id' is unbounded" in out
    assert "warning: memory_usage: a size should carry its unit" in out
    assert not any(": http_requests_total:" in line for line in out.splitlines())
    assert "user_logins_total: name is too generic" not in out


def test_lint_of_a_clean_endpoint_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    """Well-named metrics with descriptions and bounded labels pass."""
    storage = PrometheusStorage(port=0)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("http_requests_total", "Requests", labels={"method": "GET"}).increment()
        collector.histogram("http_request_duration_seconds", description="Latency").observe(0.1)
        assert cli_main(["lint", storage.url or ""]) == 0
    assert "0 problem(s)" in capsys.readouterr().out
