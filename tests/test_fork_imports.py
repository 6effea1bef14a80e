"""Never hurt the host: a fork while another thread imports a module must not leave the child unable to import it.

CPython resets only its global import lock in a forked child. A module another thread was importing at the fork
keeps its per-module lock held by a thread the child does not have, so the child's first import of it waits
forever: the cause of a rare CI failure, where the dashboard's first ``/proc`` read (a text read, whose codec
lookup imported ``encodings.ascii``) raced a fork. The forking thread now waits for imports in flight, within
``FORK_LOCK_BUDGET``, and the library's own sampling paths import nothing after their first use.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
import types
from pathlib import Path

import pytest

from rfs_otel import MetricsCollector
from rfs_otel._util.fork import FORK_LOCK_BUDGET
from rfs_otel._util.imports import held_elsewhere

from .forking import fork_child

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    pytest.mark.filterwarnings("ignore:This process .*is multi-threaded:DeprecationWarning"),
]


def _import_in_thread(name: str) -> threading.Thread:
    thread = threading.Thread(target=__import__, args=(name,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while name not in held_elsewhere():  # the thread is inside the module's top level
        assert time.monotonic() < deadline, f"{name} never started importing"
        time.sleep(0.001)
    return thread


def test_a_child_can_import_a_module_another_thread_was_importing_at_the_fork(module_dir: Path) -> None:
    """The fork waits for the import in flight, so the child gets the whole module instead of a hang."""
    (module_dir / "_rfs_fork_slow.py").write_text("import time\ntime.sleep(0.2)\nVALUE = 42\n")
    with MetricsCollector():  # a live collector registers the library's fork hooks
        thread = _import_in_thread("_rfs_fork_slow")

        def child() -> bool:
            import _rfs_fork_slow  # type: ignore[import-not-found]

            return bool(_rfs_fork_slow.VALUE == 42)

        status, _ = fork_child(child)
        thread.join(timeout=10)
    assert status == 0  # without the wait: -14, the child's alarm, stuck on the module's import lock


def test_an_import_that_never_ends_delays_one_fork_by_the_budget_and_is_named_once(
    module_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A module whose top level blocks delays the first fork by FORK_LOCK_BUDGET only; one warning names it."""
    gate = threading.Event()
    sys.modules["_rfs_fork_gate"] = types.SimpleNamespace(event=gate)  # type: ignore[assignment]
    (module_dir / "_rfs_fork_stuck.py").write_text("import _rfs_fork_gate\n_rfs_fork_gate.event.wait()\n")
    caplog.set_level(logging.WARNING, logger="rfs_otel")
    try:
        with MetricsCollector():
            thread = _import_in_thread("_rfs_fork_stuck")
            first, first_fork = fork_child(lambda: True)
            second, second_fork = fork_child(lambda: True)
    finally:
        gate.set()
        del sys.modules["_rfs_fork_gate"]
    thread.join(timeout=10)
    assert (first, second) == (0, 0)
    assert FORK_LOCK_BUDGET * 0.9 <= first_fork < FORK_LOCK_BUDGET + 5
    assert second_fork < FORK_LOCK_BUDGET * 0.9  # the same stuck import is not waited for twice
    warnings = [r.getMessage() for r in caplog.records if "_rfs_fork_stuck" in r.getMessage()]
    assert len(warnings) == 1, warnings  # logged by the parent (a child's handlers could hang), once
    assert "importing it in the child process would wait forever" in warnings[0]


def test_recording_scraping_alerting_and_the_dashboard_import_nothing_on_first_use() -> None:
    """A thread doing any of these for the first time imports no module (that a child might then need)."""
    script = textwrap.dedent(
        """
        import sys
        from rfs_otel import (
            AlertManager, AlertRule, MetricsCollector, MetricsDashboard, PerformanceMonitored, PrometheusStorage,
            get_alert_manager,
        )
        storage = PrometheusStorage()
        collector = MetricsCollector(storage)
        collector.gauge("queue_depth").set(50)
        manager = AlertManager(collector, [AlertRule("deep", "queue_depth", ">", 10)])
        dashboard = MetricsDashboard(collector, alert_manager=manager)
        timed = PerformanceMonitored(collector=collector)(lambda: None)
        before = set(sys.modules)
        collector.counter("jobs_total").increment()
        collector.histogram("job_seconds").observe(0.1)
        collector.summary("job_latency_seconds").observe(0.1)
        collector.gauge("depth").set(1, labels={"queue": "a"})
        timed()
        storage.exposition()
        storage.exposition("application/openmetrics-text; version=1.0.0")
        collector.get_sample_value("jobs_total")
        manager.evaluate_once()
        get_alert_manager()
        dashboard.data()
        print(sorted(set(sys.modules) - before))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]", result.stdout
