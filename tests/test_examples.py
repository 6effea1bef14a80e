"""Every script in examples/ runs to completion on a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script: Path) -> None:
    """The example exits 0 and prints something."""
    env = {**os.environ, "PYTHONPATH": str(script.parent.parent)}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


def test_examples_exist() -> None:
    """There is at least one example per seed scenario covered so far."""
    names = {p.stem for p in EXAMPLES}
    assert {"basic", "instruments", "web_service", "database_pool", "business_metrics"} <= names
    assert {"prometheus_push", "prometheus_pull", "otlp_export", "file_storage"} <= names
    assert {"decorator", "alerting", "dashboard", "cardinality", "multiprocess_fork"} <= names


def _run(name: str, *args: str) -> str:
    script = Path(__file__).parent.parent / "examples" / f"{name}.py"
    env = {**os.environ, "PYTHONPATH": str(script.parent.parent)}
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_push_example_reaches_a_real_pushgateway(tmp_path: Path) -> None:
    """push_metrics_periodically pushes app_requests_total=10 to a real Pushgateway."""
    import urllib.request

    from .servers import pushgateway

    with pushgateway(tmp_path) as gateway:
        out = _run("prometheus_push", "--gateway", gateway, "--iterations", "2", "--interval", "0.1")
        with urllib.request.urlopen(f"{gateway}/metrics", timeout=5) as response:
            text = response.read().decode()
    assert out.count("pushed ") == 2
    assert any(line.startswith("app_requests_total{") and line.endswith(" 10") for line in text.splitlines())


def test_otlp_example_reaches_a_real_receiver() -> None:
    """The OTLP example exports to a gRPC receiver and reports success."""
    from .otlp_receivers import grpc_receiver

    with grpc_receiver() as (endpoint, received):
        out = _run("otlp_export", "--endpoint", endpoint)
        assert "exported 2 series" in out
        assert "orders_created_total" in received.metrics()
