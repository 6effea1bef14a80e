"""rfs_otel.testing's helpers for users' tests: waiting on a condition and skipping the shutdown flush."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from rfs_otel import FileMetricsStorage, MetricsCollector
from rfs_otel.testing import skip_shutdown_flush, wait_until


def test_wait_until_returns_once_the_condition_holds() -> None:
    """wait_until returns as soon as another thread made the condition true."""
    done = threading.Event()
    threading.Timer(0.05, done.set).start()
    started = time.monotonic()
    wait_until(done.is_set, timeout=5)
    assert done.is_set() and time.monotonic() - started < 2


def test_wait_until_names_the_condition_at_the_timeout() -> None:
    """A condition that never holds: TimeoutError after the timeout, naming the condition."""

    def never() -> bool:
        return False

    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"never was still false after 0.1 s"):
        wait_until(never, timeout=0.1)
    assert 0.1 <= time.monotonic() - started < 2


def test_skip_shutdown_flush_leaves_only_the_explicit_collections(tmp_path: Path) -> None:
    """After skip_shutdown_flush, shutdown() writes no last snapshot to a file storage."""
    path = tmp_path / "m.jsonl"
    with MetricsCollector(storage=FileMetricsStorage(path)) as collector:
        collector.counter("jobs_total").increment()
        assert collector.collect_and_store_sync().is_success()
        skip_shutdown_flush(collector)
    assert len(list(FileMetricsStorage.read(path))) == 1
    with MetricsCollector(storage=FileMetricsStorage(path)) as collector:  # without it: the shutdown's snapshot too
        collector.counter("jobs_total").increment()
        assert collector.collect_and_store_sync().is_success()
    assert len(list(FileMetricsStorage.read(path))) == 3
