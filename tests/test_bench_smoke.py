"""The benchmark harness runs end to end (``--quick``); speed itself is never asserted in tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ROW_NAMES = [
    "bound counter.increment()",
    "unbound counter.increment()",
    "bound histogram.observe(v)",
    "gauge.set(v, labels={..})",
    "summary.observe(v) with quantiles",
    "worst single summary.observe",
    "summary.get_statistics() at a 10k window",
    "summary.get_statistics() at a 100k window",
    "sync @PerformanceMonitored() overhead",
    "async @PerformanceMonitored() overhead",
    "bound counter.increment() vs raw OTel",
    "counter series /metrics, default settings (scope labels + target_info)",
    "counter series /metrics, scope_labels=False, target_info=False",
    "histogram series /metrics, default settings (scope labels + target_info)",
    "histogram series /metrics, scope_labels=False, target_info=False",
    "OTLP collect + encode + POST",
    "multiprocess scrape, 4 live workers",
    "peak RSS",
    "HTTP middleware overhead per request",
]


def test_quick_benchmark_run_prints_every_figure() -> None:
    """`benchmarks/bench.py --quick --markdown` exits 0 and prints a markdown row for every figure."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick", "--markdown"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    for name in ROW_NAMES:
        assert any(name in row for row in rows), f"no table row for {name!r} in:\n{done.stdout[-3000:]}"
    assert "NOT like-for-like" not in done.stdout, done.stdout[-3000:]
