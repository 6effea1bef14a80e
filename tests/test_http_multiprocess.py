"""The WSGI middleware under gunicorn pre-fork workers: one /metrics scrape sums every worker's requests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from .servers import free_port, wait_http

ROOT = Path(__file__).parent.parent


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def _samples(text: str) -> dict[tuple[str, str], float]:
    """(sample name, http_route) -> value of a scrape's samples, buckets left out."""
    return {
        (s.name, s.labels.get("http_route", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if "le" not in s.labels
    }


def test_gunicorn_workers_requests_are_summed_on_one_scrape(tmp_path: Path) -> None:
    """3 workers serve N requests to /users/<id>: the scrape shows N under one route template, 0 in flight."""
    port = free_port()
    env = {**os.environ, "RFS_OTEL_TEST_MP_DIR": str(tmp_path / "state"), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "gunicorn", "tests.apps.flask_gunicorn_app:app", "--workers", "3"]
    command += ["--bind", f"127.0.0.1:{port}", "--config", "python:tests.apps.gunicorn_conf", "--log-level", "warning"]
    proc = subprocess.Popen(command, env=env, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/users/0", timeout=30)
        pids = {_get(f"{base}/users/{i}") for i in range(1, 150)}
        # A worker records a request when gunicorn closes its response, just after the client has the body: the
        # scrape (maybe served by another worker) may come first, so it is repeated until every request is in.
        deadline = time.monotonic() + 10
        while True:
            samples = _samples(_get(f"{base}/metrics"))
            done = samples.get(("http_server_request_duration_seconds_count", "/users/<int:user_id>"), 0) >= 150
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert len(pids) >= 1
    assert samples[("http_server_request_duration_seconds_count", "/users/<int:user_id>")] == 150
    assert samples[("http_server_active_requests", "")] == 0
