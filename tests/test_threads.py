"""Concurrency: threads record without a shared lock and lose nothing."""

from __future__ import annotations

import threading

from rfs_otel import MemoryMetricsStorage, MetricsCollector
from rfs_otel.testing import exported_points, thread_slots

THREADS = 8
PER_THREAD = 20_000


def _run(target: object) -> None:
    barrier = threading.Barrier(THREADS)

    def work() -> None:
        barrier.wait()
        target()  # type: ignore[operator]

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_eight_threads_lose_no_increments(collector: MetricsCollector) -> None:
    """8 threads x 20,000 increments give exactly 160,000."""
    counter = collector.counter("jobs_total")

    def work() -> None:
        for _ in range(PER_THREAD):
            counter.increment()

    _run(work)
    assert counter.get_value() == THREADS * PER_THREAD


def test_eight_threads_lose_no_observations(collector: MetricsCollector) -> None:
    """8 threads x 20,000 observes give exact count and sum."""
    h = collector.histogram("work_seconds", buckets=[0.5, 1.0])

    def work() -> None:
        for _ in range(PER_THREAD):
            h.observe(0.25)

    _run(work)
    value = h.get_value()
    assert value["count"] == THREADS * PER_THREAD
    assert value["sum"] == THREADS * PER_THREAD * 0.25
    assert value["buckets"][0.5] == THREADS * PER_THREAD


def test_eight_threads_lose_no_summary_observations(collector: MetricsCollector) -> None:
    """Summary cumulative counts are exact under contention; the window holds the newest max_samples."""
    s = collector.summary("work_seconds", max_samples=1000)

    def work() -> None:
        for _ in range(PER_THREAD // 4):
            s.observe(1.0)

    _run(work)
    assert s.snapshot().count == THREADS * PER_THREAD // 4
    assert s.get_statistics()["count"] == 1000


def test_gauge_steps_from_many_threads_balance(collector: MetricsCollector) -> None:
    """Increments and decrements from 8 threads cancel exactly."""
    g = collector.gauge("in_flight")

    def work() -> None:
        for _ in range(5000):
            g.increment()
            g.decrement()

    _run(work)
    assert g.get_value() == 0


def test_values_of_finished_threads_are_kept_and_folded() -> None:
    """Threads that end leave their counts behind; their slot lists are folded away at collection."""
    memory = MemoryMetricsStorage()
    with MetricsCollector(storage=memory) as c:
        counter = c.counter("jobs_total")
        for _ in range(20):
            t = threading.Thread(target=lambda: [counter.increment() for _ in range(100)])
            t.start()
            t.join()
        [point] = exported_points(memory.collect(), "jobs_total")
        assert point.value == 2000
        assert thread_slots(c) == 0
        assert counter.get_value() == 2000


def test_series_created_while_threads_record_are_counted(collector: MetricsCollector) -> None:
    """A thread that recorded before a new series existed can record into it later."""
    first = collector.counter("a_total")
    first.increment()
    second = collector.counter("b_total")
    second.increment(4)
    first.increment()
    assert (first.get_value(), second.get_value()) == (2, 4)
