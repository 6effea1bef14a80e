"""``increment()`` with no argument advances a C-level tick count: exact under threads, fork, removal and reuse."""

from __future__ import annotations

import itertools
import os
import threading

import pytest

from rfs_otel import MetricsCollector, PrometheusStorage
from rfs_otel._engine import cells as cells_module
from rfs_otel._engine import ticks as ticks_module
from rfs_otel._engine.ticks import TICKING, read_tick, read_ticks


def test_counts_read_back_on_this_python() -> None:
    """Every supported Python writes a count's repr as ``count(N)``, so ticks are on."""
    assert TICKING


def test_many_counts_are_read_at_once_including_huge_and_zero() -> None:
    """One repr of a list reads every count: zero, small, and beyond a machine word."""
    counts = [itertools.count(), itertools.count(7), itertools.count(2**70)]
    assert read_ticks(counts) == [0, 7, 2**70]
    assert read_ticks([]) == []
    assert read_tick(counts[1]) == 7


def test_ticks_and_amounts_add_up() -> None:
    """``increment()``, ``increment(1)``, ``increment(5)`` and ``increment(0.5)`` all land in one total."""
    with MetricsCollector() as collector:
        counter = collector.counter("jobs_total")
        counter.increment()
        counter.increment(1)
        counter.increment(5)
        counter.increment(0.5)
        assert counter.get_value() == 7.5
        assert collector.get_sample_value("jobs_total") == 7.5


def test_threads_lose_no_tick() -> None:
    """8 threads x 20,000 bare increments on one series: exactly 160,000, read by the series and a scrape."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        counter = collector.counter("jobs_total", labels={"queue": "a"})
        start = threading.Barrier(8)

        def work() -> None:
            start.wait(10)
            for _ in range(20_000):
                counter.increment()

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert counter.get_value() == 160_000
        assert 'queue="a"} 160000.0\n' in storage.exposition().decode()


def test_a_removed_counter_counts_only_ticks_after_its_removal() -> None:
    """Removed, then incremented again through a kept reference: a new stream with only the later ticks."""
    with MetricsCollector() as collector:
        counter = collector.counter("jobs_total", labels={"queue": "a"})
        for _ in range(3):
            counter.increment()
        counter.remove()
        counter.increment()
        collector.collect_and_store_sync()
        assert collector.get_sample_value("jobs_total", {"queue": "a"}) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_ticks_from_zero() -> None:
    """The child does not count the parent's ticks again; the parent keeps its own."""
    with MetricsCollector() as collector:
        counter = collector.counter("jobs_total")
        for _ in range(4):
            counter.increment()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: report its value, then leave without running the parent's clean-up
            counter.increment()
            os.write(write, str(counter.get_value()).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as pipe:
            child_value = pipe.read()
        os.waitpid(pid, 0)
        assert child_value == "1"
        assert counter.get_value() == 4


def test_without_readable_counts_counters_record_in_their_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where a count's repr were unknown, bare increments fall back to the per-thread cells, still exact."""
    monkeypatch.setattr(ticks_module, "TICKING", False)
    monkeypatch.setattr(cells_module, "TICKING", False)
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        counter = collector.counter("jobs_total", labels={"queue": "a"})
        counter.increment()
        counter.increment(2)
        assert counter.get_value() == 3
        assert 'queue="a"} 3.0\n' in storage.exposition().decode()
