"""The command line: the demo runs and stops by itself."""

from __future__ import annotations

import io
import subprocess
import sys

from rfs_otel._demo import run_demo


def test_demo_runs_for_its_duration_and_reports_traffic() -> None:
    """run_demo(duration=...) generates requests, shows a status line and returns 0."""
    out = io.StringIO()
    assert run_demo(duration=2.0, rate=100.0, out=out) == 0
    text = out.getvalue()
    assert "requests" in text and "p95" in text
    finished = [line for line in text.splitlines() if line.startswith("demo finished")]
    assert finished and int(finished[0].split()[2]) > 50


def test_python_dash_m_rfs_otel_demo_exits_cleanly() -> None:
    """python -m rfs_otel demo --duration 1 exits 0."""
    proc = subprocess.run(
        [sys.executable, "-m", "rfs_otel", "demo", "--duration", "1"], capture_output=True, text=True, timeout=60
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
