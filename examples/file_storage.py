"""File storage: OTLP JSON lines with rotation and retention, then read back.

Usage: python examples/file_storage.py [--path DIR/metrics.jsonl]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from rfs_otel.monitoring.metrics import FileMetricsStorage, MetricsCollector


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", type=Path, default=None)
    args = parser.parse_args()
    path = args.path or Path(tempfile.mkdtemp(prefix="rfs_otel_")) / "metrics.jsonl"

    storage = FileMetricsStorage(path, max_bytes=4096, backup_count=3)
    with MetricsCollector(storage=storage) as collector:
        jobs = collector.counter("jobs_processed_total", description="Jobs processed")
        for _ in range(10):
            jobs.increment(7)
            result = collector.collect_and_store_sync()
            assert result.is_success(), result
    print("files:", [p.name for p in storage.files()])
    snapshots = list(storage.read_all())
    last = snapshots[-1].resource_metrics[0].scope_metrics[0].metrics[0]
    print(f"{len(snapshots)} snapshots kept; last {last.name} = {last.sum.data_points[0].as_int}")


if __name__ == "__main__":
    main()
