"""FileMetricsStorage under hostile conditions: a really full disk, cut-short lines, several processes rotating."""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rfs_otel import FileMetricsStorage, MetricsCollector
from rfs_otel.testing import skip_shutdown_flush

from .forking import FORK_WARNING

PROCESSES = 6
WRITES = 40
RETAINED = 400  # more than the files PROCESSES * WRITES records fill, so retention deletes none


@contextmanager
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs; skipped locally when mounting is not permitted, a failure in CI or with servers required."""
    mount = tmp_path / "small"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True, text=True, timeout=30
    )
    if proc.returncode != 0:
        reason = f"cannot mount a 64 KiB tmpfs for a real full disk: {proc.stderr.strip() or proc.returncode}"
        if os.environ.get("CI") or os.environ.get("RFS_OTEL_REQUIRE_SERVERS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False, timeout=30)


def _fill(path: Path) -> None:
    """Write ``path`` until the filesystem refuses (ENOSPC), bounded in iterations."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for _ in range(10_000):
            os.write(fd, b"x" * 512)
        raise AssertionError(f"{path} never filled its filesystem")
    except OSError as exc:
        assert exc.errno == 28, exc
    finally:
        os.close(fd)


def _counter_values(storage: FileMetricsStorage) -> list[tuple[str, int]]:
    """Every (label value, counter value) data point across the kept files."""
    return [
        (point.attributes[0].value.string_value, point.as_int)
        for request in storage.read_all()
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        for point in metric.sum.data_points
    ]


def test_full_disk_leaves_complete_lines_and_later_writes_parse(tmp_path: Path) -> None:
    """After ENOSPC the file ends at its last complete line; once space is freed the next write parses."""
    with small_tmpfs(tmp_path) as mount:
        path = mount / "metrics.jsonl"
        storage = FileMetricsStorage(path, backup_count=0)
        collector = MetricsCollector(storage=storage)
        try:
            collector.counter("jobs_total", labels={"batch": "first"}).increment()
            assert collector.collect_and_store_sync().is_success()
            before = path.read_bytes()
            _fill(mount / "filler")
            for i in range(200):  # a snapshot larger than the slack left in the file's last page
                collector.counter("jobs_total", labels={"batch": f"b{i:04d}"}).increment()
            failed = collector.collect_and_store_sync()
            assert failed.is_failure(), failed
            assert str(path) in failed.unwrap_err() and "No space left" in failed.unwrap_err()
            assert path.read_bytes() == before
            (mount / "filler").unlink()
            assert collector.collect_and_store_sync().is_success()
            requests = list(FileMetricsStorage.read(path))
        finally:
            collector.shutdown()
    assert len(requests) == 2  # the first write and the write after space was freed
    assert len(requests[1].resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points) == 201


def test_read_skips_a_trailing_cut_short_line_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A file left by a crash mid-write still reads: the complete snapshots come back, the fragment is reported."""
    path = tmp_path / "metrics.jsonl"
    storage = FileMetricsStorage(path)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("jobs_total", labels={"batch": "a"}).increment()
        assert collector.collect_and_store_sync().is_success()
        skip_shutdown_flush(collector)
    line = path.read_bytes()
    path.write_bytes(line + line[: len(line) // 2])
    with caplog.at_level(logging.WARNING, logger="rfs_otel"):
        assert _counter_values(storage) == [("a", 1)]
    assert f"{path} line 2 holds an incomplete snapshot" in caplog.text


def test_read_recovers_a_snapshot_glued_onto_a_fragment(tmp_path: Path) -> None:
    """A complete snapshot appended right after an older version's fragment is still read back."""
    path = tmp_path / "metrics.jsonl"
    storage = FileMetricsStorage(path)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("jobs_total", labels={"batch": "a"}).increment()
        assert collector.collect_and_store_sync().is_success()
        skip_shutdown_flush(collector)
    line = path.read_bytes()
    path.write_bytes(line[:100] + line)
    assert _counter_values(storage) == [("a", 1)]


def test_write_after_a_fragment_starts_a_new_line(tmp_path: Path) -> None:
    """A write to a file ending in a fragment never merges into it: both complete snapshots read back."""
    path = tmp_path / "metrics.jsonl"
    storage = FileMetricsStorage(path)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("jobs_total", labels={"batch": "a"}).increment()
        assert collector.collect_and_store_sync().is_success()
        line = path.read_bytes()
        path.write_bytes(line + line[:100])
        collector.counter("jobs_total", labels={"batch": "a"}).increment()
        assert collector.collect_and_store_sync().is_success()
        skip_shutdown_flush(collector)
    assert _counter_values(storage) == [("a", 1), ("a", 2)]
    assert path.read_bytes().count(b"\n") == 3


def _writer(path: str, name: str, start: multiprocessing.synchronize.Barrier, failures: multiprocessing.Queue) -> None:
    """One process: WRITES collections of its own counter into the shared, fast-rotating path."""
    storage = FileMetricsStorage(path, max_bytes=2000, backup_count=RETAINED)
    collector = MetricsCollector(storage=storage)
    skip_shutdown_flush(collector)  # no shutdown snapshot: exactly WRITES records per process
    start.wait(timeout=30)
    errors = []
    for _ in range(WRITES):
        collector.counter("writes_total", labels={"writer": name}).increment()
        result = storage.store(30.0)
        if result.is_failure():
            errors.append(result.unwrap_err())
    collector.shutdown()
    failures.put(errors)


@FORK_WARNING
def test_processes_sharing_a_rotating_path_lose_no_write(tmp_path: Path) -> None:
    """Six processes appending to one path that rotates every few writes: zero failures, every record kept."""
    ctx = multiprocessing.get_context("fork")
    path = tmp_path / "shared.jsonl"
    start = ctx.Barrier(PROCESSES)
    failures: multiprocessing.Queue = ctx.Queue()
    workers = [ctx.Process(target=_writer, args=(str(path), f"w{i}", start, failures)) for i in range(PROCESSES)]
    for worker in workers:
        worker.start()
    errors = [error for _ in workers for error in failures.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert errors == []
    storage = FileMetricsStorage(path, max_bytes=2000, backup_count=RETAINED)
    assert PROCESSES < len(storage.files()) < RETAINED  # rotated many times, and retention dropped no file
    found = sorted(_counter_values(storage))
    assert found == sorted((f"w{i}", n) for i in range(PROCESSES) for n in range(1, WRITES + 1))


def test_a_writer_stuck_holding_the_lock_costs_at_most_the_timeout(tmp_path: Path) -> None:
    """If another writer never releases path.lock, store() fails after its timeout, naming the lock; no hang."""
    path = tmp_path / "metrics.jsonl"
    storage = FileMetricsStorage(path)
    collector = MetricsCollector(storage=storage)
    collector.counter("jobs_total").increment()
    holder = os.open(storage.lock_path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        started = time.monotonic()
        result = storage.store(0.3)
        elapsed = time.monotonic() - started
    finally:
        os.close(holder)
        skip_shutdown_flush(collector)
        collector.shutdown()
    assert result.is_failure() and str(storage.lock_path) in result.unwrap_err(), result
    assert 0.3 <= elapsed < 2
    assert not path.exists()  # nothing was written around the lock
