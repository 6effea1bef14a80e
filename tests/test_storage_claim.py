"""A storage serves one collector: a second one is refused with an error that says what to do instead."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource

from rfs_otel import (
    FileMetricsStorage,
    InvalidLabelError,
    MemoryMetricsStorage,
    MetricsCollector,
    MetricsStorage,
    OTLPStorage,
    PrometheusStorage,
)


def _exported(storage: MemoryMetricsStorage) -> list[str]:
    """Names of the metrics the storage's OTel reader collects now."""
    data = storage.collect()
    assert data is not None
    return [m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]


def _storages(tmp_path: Path) -> list[Callable[[], MetricsStorage]]:
    return [
        MemoryMetricsStorage,
        lambda: PrometheusStorage(dashboard=False),
        lambda: FileMetricsStorage(str(tmp_path / "metrics.jsonl")),
    ]


@pytest.mark.parametrize("kind", [0, 1, 2], ids=["memory", "prometheus", "file"])
def test_a_storage_given_to_a_second_collector_is_refused_by_name(tmp_path: Path, kind: int) -> None:
    """The error names the storage and says to create a new one (not OpenTelemetry's reader message)."""
    storage = _storages(tmp_path)[kind]()
    expected = rf"already served another MetricsCollector.*new {type(storage).__name__}"
    with MetricsCollector(storage=storage), pytest.raises(ValueError, match=expected):
        MetricsCollector(storage=storage)


def test_a_storage_stays_bound_after_its_collector_shut_down() -> None:
    """OpenTelemetry keeps the reader registered with the first provider, so reuse after shutdown is refused too."""
    storage = MemoryMetricsStorage()
    MetricsCollector(storage=storage).shutdown()
    with pytest.raises(ValueError, match="already served another MetricsCollector"):
        MetricsCollector(storage=storage)


def test_the_first_collector_keeps_working_after_a_refused_second_one() -> None:
    """A refused second collector changes nothing for the collector that owns the storage."""
    storage = MemoryMetricsStorage()
    with MetricsCollector(storage=storage) as collector:
        with pytest.raises(ValueError):
            MetricsCollector(storage=storage)
        collector.counter("jobs_total").increment()
        assert _exported(storage) == ["jobs_total"]


def test_a_collector_that_failed_to_start_leaves_its_storage_free() -> None:
    """A constructor that raised registered nothing, so the same storage serves the next collector."""
    storage = MemoryMetricsStorage()
    with pytest.raises(InvalidLabelError):
        MetricsCollector(storage=storage, resource=Resource({"service.name": "bad\udcff"}))
    with MetricsCollector(storage=storage) as collector:
        collector.counter("jobs_total").increment()
        assert _exported(storage) == ["jobs_total"]


def test_a_storage_listed_twice_is_refused() -> None:
    """``storage=[s, s]`` would register one reader twice: refused, naming the storage."""
    storage = MemoryMetricsStorage()
    with pytest.raises(ValueError, match="listed twice"):
        MetricsCollector(storage=[storage, storage])


def test_a_prometheus_storage_no_collector_took_exposes_nothing_valid() -> None:
    """Before a collector takes it, the exposition is empty but well formed in both formats."""
    storage = PrometheusStorage(dashboard=False)
    assert storage.exposition() == b""
    assert storage.exposition("application/openmetrics-text; version=1.0.0") == b"# EOF\n"


def test_a_memory_storage_no_collector_took_collects_nothing() -> None:
    """Before a collector takes it, ``collect()`` returns None (nothing registered to collect from)."""
    assert MemoryMetricsStorage().collect() is None


def test_a_periodic_otlp_storage_starts_its_export_thread_only_when_a_collector_takes_it() -> None:
    """``interval=``: no background thread (and nothing to collect at exit) until a collector takes the storage."""

    def exporting() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "OtelPeriodicExportingMetricReader"]

    before = exporting()
    storage = OTLPStorage(endpoint="http://127.0.0.1:9/v1/metrics", interval=60)
    assert exporting() == before
    with MetricsCollector(storage=storage):
        assert len(exporting()) == len(before) + 1
