"""Round 5 hostile review of counter ticks and slot reuse: exactness under removal, collection, fork and huge counts."""

from __future__ import annotations

import itertools
import sys
from typing import Any

import pytest
from opentelemetry.sdk.metrics import Counter as OtelCounter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

from rfs_otel import MetricsCollector
from rfs_otel._engine import cells as cells_module
from rfs_otel._engine.ticks import read_tick, read_ticks
from rfs_otel.testing import exported_points


def test_a_collection_during_clear_never_gives_a_delta_reader_a_negative_delta(monkeypatch: pytest.MonkeyPatch) -> None:
    """A delta collection that reads a series just before clear() resets it: the series' new stream starts later."""
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
        second.increment()  # recorded on again: it comes back, a new stream of 1
        deltas.extend(p.value for p in exported_points(reader.get_metrics_data(), "jobs_total"))
    provider.shutdown()
    assert min(deltas) >= 0
    assert deltas[-1] == 1


def test_a_count_at_exactly_the_machine_word_limit_reads_back() -> None:
    """CPython writes a count holding sys.maxsize as ``count(<NULL>)``: it still reads as sys.maxsize."""
    at_limit = itertools.count(sys.maxsize - 1)
    next(at_limit)
    assert read_tick(at_limit) == sys.maxsize
    assert read_ticks([itertools.count(3), at_limit, itertools.count(2**64)]) == [3, sys.maxsize, 2**64]
    next(at_limit)
    assert read_tick(at_limit) == sys.maxsize + 1
