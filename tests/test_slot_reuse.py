"""Series churn costs no memory for good: a removed series' value slot is reused once nothing holds the series."""

from __future__ import annotations

import gc
import threading
import tracemalloc

from rfs_otel import MetricsCollector


def test_a_new_series_reuses_the_slot_of_a_removed_series_nothing_holds() -> None:
    """Removed and garbage-collected, a counter's slot goes to the next counter created."""
    with MetricsCollector() as collector:
        old = collector.counter("jobs_total", labels={"job": "a"})
        _, slot = old.cell()
        old.remove()
        del old
        gc.collect()
        assert collector.counter("jobs_total", labels={"job": "b"}).cell()[1] == slot


def test_a_reused_slot_starts_from_zero_even_if_the_removed_series_was_recorded_on_before_it_died() -> None:
    """What a removed series recorded after its removal (in this and in another live thread) is not inherited."""
    with MetricsCollector() as collector:
        held = [collector.counter("jobs_total", labels={"job": "a"})]
        slot = held[0].cell()[1]
        held[0].remove()
        recorded, finish = threading.Event(), threading.Event()

        def other_thread() -> None:
            held[0].increment(5)  # into this thread's own list, which stays alive below
            recorded.set()
            finish.wait(10)

        worker = threading.Thread(target=other_thread)
        worker.start()
        try:
            assert recorded.wait(10)
            held.pop().increment(3)
            gc.collect()
            new = collector.counter("jobs_total", labels={"job": "b"})
            assert new.cell()[1] == slot
            assert new.get_value() == 0
            new.increment()
            assert collector.get_sample_value("jobs_total", {"job": "b"}) == 1
        finally:
            finish.set()
            worker.join(10)


def test_a_removed_series_the_caller_still_holds_keeps_its_slot() -> None:
    """Held by the caller, a removed series is not reused: recorded on again, it comes back with its own value."""
    with MetricsCollector() as collector:
        held = collector.counter("jobs_total", labels={"job": "a"})
        held.remove()
        gc.collect()
        other = collector.counter("jobs_total", labels={"job": "b"})
        assert other.cell()[1] != held.cell()[1]
        held.increment(2)
        other.increment(7)
        collector.collect_and_store_sync()  # a collection brings the removed series recorded on again back
        assert collector.get_sample_value("jobs_total", {"job": "a"}) == 2
        assert collector.get_sample_value("jobs_total", {"job": "b"}) == 7


def test_histograms_and_summaries_reuse_slots_of_their_own_kind() -> None:
    """A removed histogram's slot goes to a histogram, a summary's to a summary of the same window: both empty."""
    with MetricsCollector() as collector:
        histogram = collector.histogram("work_seconds", labels={"job": "a"})
        summary = collector.summary("size_bytes", labels={"job": "a"})
        histogram.observe(0.3)
        summary.observe(10.0)
        histogram.remove()
        summary.remove()
        del histogram, summary
        gc.collect()
        new_histogram = collector.histogram("work_seconds", labels={"job": "b"})
        new_summary = collector.summary("size_bytes", labels={"job": "b"})
        assert new_histogram.get_value()["count"] == 0
        assert new_summary.get_statistics()["count"] == 0
        new_summary.observe(4.0)
        assert new_summary.get_statistics()["count"] == 1


def test_memory_stays_flat_under_series_churn() -> None:
    """Rounds of 10,000 series created and removed: after the first rounds sized the tables, more rounds add
    nothing (a slot kept per removed series would add about 1 MB over four rounds)."""
    with MetricsCollector(cardinality_limit=50_000) as collector:

        def churn(round_: int) -> None:
            for i in range(10_000):
                collector.counter("churn_total", labels={"id": f"{round_}-{i}"}).increment()
            assert collector.clear("churn_total") == 10_000
            gc.collect()

        tracemalloc.start()
        try:
            for round_ in range(2):
                churn(round_)
            sized = tracemalloc.get_traced_memory()[0]
            for round_ in range(2, 6):
                churn(round_)
            grown = tracemalloc.get_traced_memory()[0] - sized
        finally:
            tracemalloc.stop()
    assert grown < 100_000, f"memory grew {grown} bytes over four more rounds of 10,000 created and removed series"
