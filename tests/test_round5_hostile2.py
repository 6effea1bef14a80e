"""Round 5 hostile review of counter ticks and slot reuse: exactness under removal, collection, fork and huge counts."""

from __future__ import annotations

import itertools
import os
import sys
import threading
import warnings
from typing import Any

import pytest
from opentelemetry.sdk.metrics import Counter as OtelCounter
from opentelemetry.sdk.metrics import Histogram as OtelHistogram
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

from rfs_otel import MetricsCollector
from rfs_otel._engine import cells as cells_module
from rfs_otel._engine.family import Family
from rfs_otel._engine.ticks import read_tick, read_ticks
from rfs_otel.testing import exported_points


def test_a_collection_during_clear_loses_no_delta_of_a_series_that_comes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A delta collection reads a series just before clear() resets it: its new stream starts after, none of it lost."""
    reader = InMemoryMetricReader(preferred_temporality={OtelCounter: AggregationTemporality.DELTA})
    provider = MeterProvider(metric_readers=[reader])
    retire = cells_module.ThreadCells.retire
    deltas: list[Any] = []

    def collect_then_retire(self: Any, series: Any, slot: int) -> None:  # a collection lands mid-clear()
        monkeypatch.setattr(cells_module.ThreadCells, "retire", retire)  # once: before the family counts a removal
        deltas.extend(p.value for p in exported_points(reader.get_metrics_data(), "jobs_total"))
        retire(self, series, slot)

    with MetricsCollector(storage=[], meter_provider=provider) as collector:
        first = collector.counter("jobs_total", labels={"queue": "a"})
        second = collector.counter("jobs_total", labels={"queue": "b"})
        first.increment()
        for _ in range(5):
            second.increment()
        deltas.extend(p.value for p in exported_points(reader.get_metrics_data(), "jobs_total"))
        monkeypatch.setattr(cells_module.ThreadCells, "retire", collect_then_retire)
        assert collector.clear("jobs_total") == 2
        for _ in range(6):  # recorded on again: it comes back, a new stream of 6 (more than the 5 read mid-clear)
            second.increment()
        deltas.extend(p.value for p in exported_points(reader.get_metrics_data(), "jobs_total"))
    provider.shutdown()
    assert deltas == [1, 5, 0, 6]


def test_a_count_at_exactly_the_machine_word_limit_reads_back() -> None:
    """CPython writes a count holding sys.maxsize as ``count(<NULL>)``: it still reads as sys.maxsize."""
    at_limit = itertools.count(sys.maxsize - 1)
    next(at_limit)
    assert read_tick(at_limit) == sys.maxsize
    assert read_ticks([itertools.count(3), at_limit, itertools.count(2**64)]) == [3, sys.maxsize, 2**64]
    next(at_limit)
    assert read_tick(at_limit) == sys.maxsize + 1


def _forked_value(counter: Any, depth: int) -> str:
    """Fork (``depth`` times nested) while the caller's threads increment; the deepest child's value after 2 ticks."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: only this thread survives; its counter starts from zero
        try:
            counter.increment()
            counter.increment(1.0) if depth == 1 else counter.increment()
            text = str(counter.get_value())
            if depth > 1:  # fork again: the grandchild starts from zero too, this child keeps its 2
                text = f"{_forked_value(counter, depth - 1)}/{counter.get_value()}"
            os.write(write, text.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    return text


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forks_from_a_thread_while_others_tick_start_children_at_zero_and_keep_the_parent_exact() -> None:
    """Threads tick while another thread forks a child and a grandchild: both start at zero, the parent loses none."""
    with MetricsCollector() as collector:
        counter = collector.counter("jobs_total")
        for _ in range(7):
            counter.increment()
        start = threading.Barrier(4)
        found: list[str] = []

        def tick() -> None:
            start.wait(10)
            for _ in range(20_000):
                counter.increment()

        def fork() -> None:
            start.wait(10)
            found.extend([_forked_value(counter, 1), _forked_value(counter, 2)])

        threads = [threading.Thread(target=tick) for _ in range(3)] + [threading.Thread(target=fork)]
        with warnings.catch_warnings():  # Python 3.12 warns about forking a threaded process
            warnings.simplefilter("ignore", DeprecationWarning)
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
        assert found == ["2.0", "2.0/2"]
        assert counter.get_value() == 7 + 60_000


def test_a_removal_between_reading_a_value_and_its_start_never_gives_a_negative_delta(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A series re-created (smaller than its predecessor) and removed while a delta collection reads it: no negative."""
    reader = InMemoryMetricReader(preferred_temporality={OtelCounter: AggregationTemporality.DELTA})
    provider = MeterProvider(metric_readers=[reader])
    deltas: list[Any] = []
    with MetricsCollector(storage=[], meter_provider=provider) as collector:
        first = collector.counter("jobs_total", labels={"queue": "a"})
        first.increment(3)
        deltas.extend(p.value for p in exported_points(reader.get_metrics_data(), "jobs_total"))
        first.remove()
        del first
        again = collector.counter("jobs_total", labels={"queue": "a"})  # a new stream: 1 so far
        again.increment()
        family, start_of = Family, Family.start_of

        def removed_meanwhile(self: Any, attributes: Any) -> int:  # the series goes after its value was read
            monkeypatch.setattr(family, "start_of", start_of)
            again.remove()
            return start_of(self, attributes)

        monkeypatch.setattr(family, "start_of", removed_meanwhile)
        deltas.extend(p.value for p in exported_points(reader.get_metrics_data(), "jobs_total"))
    provider.shutdown()
    assert deltas == [3, 1]


def test_a_histogram_removed_as_a_delta_collection_reads_it_never_gives_negative_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As for counters: a smaller re-created histogram removed mid-collection is a new stream, not negative counts."""
    reader = InMemoryMetricReader(preferred_temporality={OtelHistogram: AggregationTemporality.DELTA})
    provider = MeterProvider(metric_readers=[reader])
    counts: list[Any] = []
    with MetricsCollector(storage=[], meter_provider=provider) as collector:
        first = collector.histogram("job_seconds", buckets=[1.0], labels={"queue": "a"})
        for _ in range(3):
            first.observe(0.5)
        counts.extend(list(p.bucket_counts) for p in exported_points(reader.get_metrics_data(), "job_seconds"))
        first.remove()
        del first
        again = collector.histogram("job_seconds", buckets=[1.0], labels={"queue": "a"})
        again.observe(0.5)
        family, start_of = Family, Family.start_of

        def removed_meanwhile(self: Any, attributes: Any) -> int:  # the series goes after its value was read
            monkeypatch.setattr(family, "start_of", start_of)
            again.remove()
            return start_of(self, attributes)

        monkeypatch.setattr(family, "start_of", removed_meanwhile)
        counts.extend(list(p.bucket_counts) for p in exported_points(reader.get_metrics_data(), "job_seconds"))
    provider.shutdown()
    assert counts == [[3, 0], [1, 0]]
