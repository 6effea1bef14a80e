"""FileMetricsStorage: OTLP JSON lines, rotation, retention, round trip, and failures that harm nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from rfs_otel import FileMetricsStorage, MetricsCollector


def _values(request: ExportMetricsServiceRequest) -> dict[str, object]:
    out: dict[str, object] = {}
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                point = getattr(metric, kind).data_points[0]
                out[metric.name] = point.as_int or point.as_double if kind in ("sum", "gauge") else point.count
    return out


def test_each_collection_appends_one_otlp_json_line(tmp_path: Path) -> None:
    """Two collections write two lines, each a valid ExportMetricsServiceRequest in OTLP JSON."""
    path = tmp_path / "metrics.jsonl"
    with MetricsCollector(storage=FileMetricsStorage(path)) as collector:
        collector.counter("jobs_total", "Jobs").increment(3)
        assert collector.collect_and_store_sync().is_success()
        collector.counter("jobs_total").increment(2)
        assert collector.collect_and_store_sync().is_success()
        lines = path.read_text().splitlines()
    assert len(lines) == 2
    requests = [json_format.Parse(line, ExportMetricsServiceRequest()) for line in lines]
    assert [_values(r)["jobs_total"] for r in requests] == [3, 5]


def test_shutdown_writes_a_last_snapshot(tmp_path: Path) -> None:
    """collector.shutdown() delivers what was recorded since the last collection: nothing is lost."""
    path = tmp_path / "metrics.jsonl"
    collector = MetricsCollector(storage=FileMetricsStorage(path))
    collector.counter("jobs_total", "Jobs").increment(9)
    collector.shutdown()
    collector.shutdown()
    [snapshot] = list(FileMetricsStorage.read(path))
    assert _values(snapshot)["jobs_total"] == 9


def test_read_yields_the_stored_snapshots(tmp_path: Path) -> None:
    """FileMetricsStorage.read(path) gives back what was written, histograms included."""
    storage = FileMetricsStorage(tmp_path / "m.jsonl")
    with MetricsCollector(storage=storage) as collector:
        collector.histogram("job_seconds", buckets=[0.1, 1.0]).observe(0.5)
        collector.gauge("queue_depth").set(4)
        collector.collect_and_store_sync()
        [snapshot] = list(FileMetricsStorage.read(tmp_path / "m.jsonl"))
    values = _values(snapshot)
    assert values == {"job_seconds": 1, "queue_depth": 4}


def test_parent_directory_is_created(tmp_path: Path) -> None:
    """A path in a missing directory works: the directory is made."""
    path = tmp_path / "deep" / "er" / "metrics.jsonl"
    with MetricsCollector(storage=FileMetricsStorage(path)) as collector:
        collector.counter("a_total").increment()
        assert collector.collect_and_store_sync().is_success()
    assert path.exists()


def test_rotation_and_retention(tmp_path: Path) -> None:
    """Past max_bytes the file rotates to .1, .2 ...; at most backup_count old files are kept."""
    path = tmp_path / "metrics.jsonl"
    storage = FileMetricsStorage(path, max_bytes=1500, backup_count=2)
    with MetricsCollector(storage=storage) as collector:
        counter = collector.counter("jobs_total", "Jobs")
        for _ in range(12):
            counter.increment()
            assert collector.collect_and_store_sync().is_success()
    files = storage.files()
    assert [f.name for f in files] == ["metrics.jsonl.2", "metrics.jsonl.1", "metrics.jsonl"]
    assert not (tmp_path / "metrics.jsonl.3").exists()
    assert all(f.stat().st_size <= 1500 for f in files)
    totals = [_values(s)["jobs_total"] for s in storage.read_all()]
    assert totals == sorted(totals) and totals[-1] == 12


def test_unwritable_directory_is_a_failure_naming_the_path(tmp_path: Path) -> None:
    """A read-only directory: Failure with the path, earlier content intact, the app keeps running."""
    if os.geteuid() == 0:
        target = Path("/proc/rfs_otel_cannot_write_here/metrics.jsonl")  # not writable even for root
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = locked / "metrics.jsonl"
    with MetricsCollector(storage=FileMetricsStorage(target)) as collector:
        collector.counter("a_total").increment()
        result = collector.collect_and_store_sync()
    assert result.is_failure()
    assert str(target) in result.unwrap_err()


def test_failed_write_keeps_earlier_files_intact(tmp_path: Path) -> None:
    """When a later write fails, the lines already written stay as they were."""
    path = tmp_path / "metrics.jsonl"
    storage = FileMetricsStorage(path)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("a_total").increment()
        assert collector.collect_and_store_sync().is_success()
        before = path.read_bytes()
        path.chmod(0o400)
        try:
            if os.geteuid() == 0:
                # root ignores file modes: stand in for a full disk by making the path a directory's child
                storage.path = path / "not-a-dir"
            result = collector.collect_and_store_sync()
        finally:
            path.chmod(0o600)
    assert result.is_failure()
    assert path.read_bytes() == before


@pytest.mark.parametrize(("kwargs", "message"), [({"max_bytes": 0}, "max_bytes"), ({"backup_count": -1}, "backup")])
def test_bad_configuration_is_refused(tmp_path: Path, kwargs: dict[str, int], message: str) -> None:
    """max_bytes must be positive and backup_count non-negative."""
    with pytest.raises(ValueError, match=message):
        FileMetricsStorage(tmp_path / "m.jsonl", **kwargs)
