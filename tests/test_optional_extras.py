"""Without an optional extra, the core works and the storage needing it says which extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CASES = [
    ("prometheus_client", "PrometheusStorage(port=0)", "prometheus"),
    ("opentelemetry.exporter.otlp", "OTLPStorage()", "otlp"),
    ("opentelemetry.exporter.otlp.json.file", "FileMetricsStorage('/tmp/x.jsonl')", "file"),
]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("module", "call", "extra"), CASES)
def test_missing_extra_is_named_in_the_import_error(module: str, call: str, extra: str) -> None:
    """Blocking the optional package: importing rfs_otel works; using the storage names the pip extra."""
    proc = _run(f"""
        import sys
        class Block:
            def find_spec(self, fullname, path=None, target=None):
                if fullname == {module!r} or fullname.startswith({module!r} + "."):
                    raise ImportError("blocked for the test: " + fullname)
        sys.meta_path.insert(0, Block())
        import rfs_otel
        from rfs_otel import *
        c = MetricsCollector()
        c.counter("core_total").increment()
        assert c.counter("core_total").get_value() == 1
        try:
            {call}
        except ImportError as exc:
            print(exc)
        else:
            raise SystemExit("no ImportError")
    """)
    assert proc.returncode == 0, proc.stderr
    assert f"pip install 'rfs-otel[{extra}]'" in proc.stdout


def test_core_collector_needs_no_extra() -> None:
    """With every optional package blocked, the memory-backed core records and collects."""
    proc = _run("""
        import sys
        blocked = ("prometheus_client", "opentelemetry.exporter", "opentelemetry.instrumentation", "psutil")
        class Block:
            def find_spec(self, fullname, path=None, target=None):
                if fullname.startswith(blocked):
                    raise ImportError(fullname)
        sys.meta_path.insert(0, Block())
        import asyncio
        from rfs_otel import MetricsCollector
        c = MetricsCollector()
        c.histogram("h_seconds").observe(0.1)
        print(asyncio.run(c.collect_and_store()))
    """)
    assert proc.returncode == 0, proc.stderr
    assert "Success(1)" in proc.stdout
