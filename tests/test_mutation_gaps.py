"""Behaviours a mutation run showed no test pinned down: each test here fails under that mutation."""

from __future__ import annotations

import threading
from pathlib import Path

from rfs_otel import AlertManager, AlertRule, AlertState, MemoryMetricsStorage, MetricsCollector
from rfs_otel.testing import ManualClock, exported_points


def _observe_in_threads(collector: MetricsCollector, name: str, groups: list[list[float]]) -> None:
    histogram = collector.histogram(name, buckets=[1.0, 10.0])
    barrier = threading.Barrier(len(groups))

    def work(values: list[float]) -> None:
        barrier.wait(timeout=10)
        for value in values:
            histogram.observe(value)

    threads = [threading.Thread(target=work, args=(values,)) for values in groups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)


def test_histogram_min_and_max_merge_across_live_threads() -> None:
    """Three live threads' cells merge to the overall min and max (min with min, max with max)."""
    memory = MemoryMetricsStorage()
    with MetricsCollector(storage=memory) as collector:
        histogram = collector.histogram("work_seconds", buckets=[1.0, 10.0])
        histogram.observe(5.0)
        _observe_in_threads(collector, "work_seconds", [[3.0, 4.0], [0.5, 6.0], [2.0, 50.0]])
        [point] = exported_points(memory.collect(), "work_seconds")
    assert (point.min, point.max, point.count) == (0.5, 50.0, 7)


def test_histogram_min_and_max_survive_folding_ended_threads() -> None:
    """After ended threads are folded into the base cell, min and max still come from every thread."""
    memory = MemoryMetricsStorage()
    with MetricsCollector(storage=memory) as collector:
        _observe_in_threads(collector, "work_seconds", [[3.0], [0.25], [70.0], [5.0]])
        memory.collect()  # folds the ended threads
        _observe_in_threads(collector, "work_seconds", [[4.0]])
        [point] = exported_points(memory.collect(), "work_seconds")
    assert (point.min, point.max, point.count) == (0.25, 70.0, 5)


def test_multiprocess_thread_fold_keeps_min_and_max(tmp_path: Path) -> None:
    """In multiprocess mode, ended threads folded into the worker's base file keep min and max exact."""
    memory = MemoryMetricsStorage()
    with MetricsCollector(storage=memory, multiprocess_dir=tmp_path) as collector:
        _observe_in_threads(collector, "work_seconds", [[3.0], [0.25], [70.0]])
        memory.collect()
        _observe_in_threads(collector, "work_seconds", [[4.0]])
        [point] = exported_points(memory.collect(), "work_seconds")
    assert (point.count, point.sum) == (4, 77.25)
    assert (point.min, point.max) == (0.25, 70.0)


def test_resolved_alert_returns_to_inactive() -> None:
    """firing -> resolved on the first evaluation below the threshold, then inactive on the next one."""
    clock = ManualClock(start=1_700_000_000.0)
    with MetricsCollector() as collector:
        gauge = collector.gauge("queue_depth")
        manager = AlertManager(collector, rules=[AlertRule("deep", "queue_depth", ">", 10)], interval=1, clock=clock)
        gauge.set(50)
        manager.evaluate_once()
        gauge.set(1)
        clock.advance(1)
        manager.evaluate_once()
        assert manager.alerts()[0].state is AlertState.RESOLVED
        clock.advance(1)
        manager.evaluate_once()
        assert manager.alerts()[0].state is AlertState.INACTIVE


def test_relabelled_aliases_stay_bounded() -> None:
    """100,000 distinct user ids dropped by a filter map to one series and do not grow memory without bound."""
    import tracemalloc

    from rfs_otel import MetricFilter

    with MetricsCollector(filters=[MetricFilter.drop_labels("user_id")], cardinality_limit=100) as collector:
        collector.counter("logins_total", labels={"user_id": "warm-up"}).increment()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(100_000):
            collector.counter("logins_total", labels={"user_id": f"user-{i}"}).increment()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        [record] = [m for m in collector.snapshot() if m.name == "logins_total"]
    assert (record.value, record.labels) == (100_001, {})
    assert grown < 1_000_000  # unbounded aliases would hold ~100,000 entries (>10 MB)
