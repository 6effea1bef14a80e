"""The core's seams: the cell backend a family records into, one source for export and snapshot, the SDK check."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics.view import View

from rfs_otel import MemoryMetricsStorage, MetricsCollector
from rfs_otel._model.quantile import quantile_key, window_statistics
from rfs_otel._otel import compat
from rfs_otel.testing import ManualClock, exported_points


def test_a_multiprocess_summary_is_a_summary_ageing_by_the_collector_clock(tmp_path: Path) -> None:
    """In multiprocess mode a summary is still a Summary, and its window expires by the injected clock."""
    from rfs_otel import Summary

    clock = ManualClock()
    with MetricsCollector(storage=MemoryMetricsStorage(), multiprocess_dir=tmp_path, clock=clock) as collector:
        summary = collector.summary("latency_seconds", max_age=10, quantiles=(0.5,))
        assert isinstance(summary, Summary)
        summary.observe(1.0)
        clock.advance(11)
        summary.observe(3.0)
        assert summary.get_statistics() == window_statistics([3.0], (0.5,))
        assert summary.snapshot().count == 2  # the distribution is cumulative


def test_snapshot_in_multiprocess_mode_reads_what_an_export_reads(tmp_path: Path) -> None:
    """snapshot() and an export of the same collection give the same multiprocess totals."""
    memory = MemoryMetricsStorage()
    with MetricsCollector(storage=memory, multiprocess_dir=tmp_path) as collector:
        collector.counter("jobs_total", labels={"queue": "mail"}).increment(3)
        collector.histogram("size_bytes", buckets=[10, 100]).observe(42)
        [record] = [r for r in collector.snapshot() if r.name == "jobs_total"]
        [point] = exported_points(memory.collect(), "jobs_total")
        assert (record.value, record.labels) == (point.value, {"queue": "mail"})
        [histogram] = [r for r in collector.snapshot() if r.name == "size_bytes"]
        assert histogram.value["buckets"] == {10: 0, 100: 1, math.inf: 1}


def test_an_overflow_series_keeps_its_label_text_in_snapshots() -> None:
    """The overflow series' label reads ``true`` in records, as OTel writes the attribute."""
    with MetricsCollector(storage=MemoryMetricsStorage(), cardinality_limit=1) as collector:
        collector.counter("hits_total", labels={"user": "a"}).increment()
        collector.counter("hits_total", labels={"user": "b"}).increment()
        labels = [r.labels for r in collector.snapshot() if r.name == "hits_total"]
        assert labels == [{"user": "a"}, {"otel.metric.overflow": "true"}]


def test_window_statistics_are_one_dict_for_every_summary() -> None:
    """count, sum, mean, min, max and one pNN per quantile, NaN for an empty window."""
    stats = window_statistics([1.0, 2.0, 3.0, 4.0], (0.5, 0.999))
    assert stats == {"count": 4, "sum": 10.0, "mean": 2.5, "min": 1.0, "max": 4.0, "p50": 2.5, "p99.9": 3.997}
    empty = window_statistics([], (0.5,))
    assert empty["count"] == 0 and math.isnan(empty["mean"]) and math.isnan(empty[quantile_key(0.5)])


def test_a_missing_private_sdk_name_fails_naming_the_sdk_version() -> None:
    """The compat check refuses an SDK without a private name rfs_otel relies on, naming the installed version."""
    from importlib.metadata import version

    with pytest.raises(ImportError, match=f"opentelemetry-sdk {version('opentelemetry-sdk')}.*View._no_such_name"):
        compat.check_sdk({View: ("_no_such_name",)}, {})
    with pytest.raises(ImportError, match=r"View\._gone\(\)"):
        compat.check_sdk({}, {View: ("_gone",)})


def test_the_export_timeout_is_readable() -> None:
    """collector.export_timeout is what the collector was built with."""
    with MetricsCollector(storage=MemoryMetricsStorage(), export_timeout=2.5) as collector:
        assert collector.export_timeout == 2.5
