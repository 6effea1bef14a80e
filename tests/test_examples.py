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
