"""Removing, clearing and expiring series in multiprocess mode: every worker's view, new streams on return."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from rfs_otel import MemoryMetricsStorage, MetricsCollector
from rfs_otel.testing import ManualClock

pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")


def _values(collector: MetricsCollector, name: str) -> dict[tuple[tuple[str, str], ...], Any]:
    return {tuple(sorted(r.labels.items())): r.value for r in collector.snapshot() if r.name == name}


def _in_child(work: Any) -> Any:
    """Run ``work()`` in a forked worker and return what it returns (JSON through a pipe)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write, json.dumps(work()).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        out = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(out)


def test_a_removed_series_disappears_from_every_workers_view(tmp_path: Path) -> None:
    """Parent and child both count; the parent removes the series; the child's collection no longer shows it."""
    with MetricsCollector(storage=MemoryMetricsStorage(), multiprocess_dir=tmp_path) as collector:
        jobs = collector.counter("jobs_total", labels={"queue": "mail"})
        jobs.increment(5)
        _in_child(lambda: collector.counter("jobs_total", labels={"queue": "mail"}).increment(2))
        assert _values(collector, "jobs_total") == {(("queue", "mail"),): 7.0}
        assert jobs.remove()
        assert _values(collector, "jobs_total") == {}
        seen_by_child = _in_child(lambda: {str(k): v for k, v in _values(collector, "jobs_total").items()})
    assert seen_by_child == {}


def test_a_series_recorded_again_starts_a_new_stream_with_a_new_start_time(tmp_path: Path) -> None:
    """After removal, recording on it (here: in another worker) exports only the new amount, from a later start."""
    storage = MemoryMetricsStorage()
    with MetricsCollector(storage=storage, multiprocess_dir=tmp_path) as collector:
        jobs = collector.counter("jobs_total", labels={"queue": "mail"})
        jobs.increment(5)
        [before] = _points(storage, "jobs_total")
        removed_at = time.time_ns()
        collector.remove("jobs_total", {"queue": "mail"})
        _in_child(lambda: collector.counter("jobs_total", labels={"queue": "mail"}).increment(3))
        [after] = _points(storage, "jobs_total")
    assert (before.value, after.value) == (5, 3)
    assert after.start_time_unix_nano >= removed_at > before.start_time_unix_nano


def _points(storage: MemoryMetricsStorage, name: str) -> list[Any]:
    data = storage.collect()
    assert data is not None
    return [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics if m.name == name
            for p in m.data.data_points]  # fmt: skip


def test_clearing_a_histogram_and_removing_a_summary_and_a_gauge_work_across_workers(tmp_path: Path) -> None:
    """clear() empties a histogram for every worker; a removed summary and gauge are gone until recorded again."""
    with MetricsCollector(storage=MemoryMetricsStorage(), multiprocess_dir=tmp_path) as collector:
        collector.histogram("latency_seconds", buckets=[0.1, 1.0], labels={"path": "/a"}).observe(0.05)
        _in_child(
            lambda: collector.histogram("latency_seconds", buckets=[0.1, 1.0], labels={"path": "/b"}).observe(0.5)
        )
        task = collector.summary("task_seconds", labels={"kind": "x"})
        task.observe(0.2)
        depth = collector.gauge("queue_depth", labels={"queue": "mail"})
        depth.set(4)
        assert collector.clear("latency_seconds") == 2  # /a here, /b only in the child
        assert task.remove() and depth.remove()
        assert _values(collector, "latency_seconds") == {}
        assert _values(collector, "task_seconds") == {}
        assert _values(collector, "queue_depth") == {}
        task.observe(0.4)
        depth.set(6)
        [stats] = _values(collector, "task_seconds").values()
        assert _values(collector, "queue_depth") == {(("queue", "mail"),): 6.0}
    assert stats["count"] == 1


def test_series_idle_in_every_worker_expire_after_series_ttl(tmp_path: Path) -> None:
    """With series_ttl=10, a series nobody recorded on for 10 s goes; one another worker keeps updating stays."""
    clock = ManualClock()
    with MetricsCollector(
        storage=MemoryMetricsStorage(), multiprocess_dir=tmp_path, clock=clock, series_ttl=10
    ) as collector:
        collector.counter("jobs_total", labels={"queue": "idle"}).increment()
        collector.counter("jobs_total", labels={"queue": "busy"}).increment()
        assert len(_values(collector, "jobs_total")) == 2
        clock.advance(6)
        _in_child(lambda: collector.counter("jobs_total", labels={"queue": "busy"}).increment())
        assert len(_values(collector, "jobs_total")) == 2
        clock.advance(6)  # idle: unchanged for 12 s; busy: changed 6 s ago
        assert _values(collector, "jobs_total") == {(("queue", "busy"),): 2.0}
        collector.counter("jobs_total", labels={"queue": "idle"}).increment(4)
        assert _values(collector, "jobs_total")[(("queue", "idle"),)] == 4.0


def test_clear_counts_only_series_still_there(tmp_path: Path) -> None:
    """``clear()`` after a removal does not count the removed series again, until it is recorded on again."""
    with MetricsCollector(multiprocess_dir=tmp_path) as collector:
        series = collector.counter("jobs_total", labels={"queue": "a"})
        series.increment()
        assert series.remove()
        assert collector.clear("jobs_total") == 0
        series.increment()
        assert collector.clear("jobs_total") == 1
