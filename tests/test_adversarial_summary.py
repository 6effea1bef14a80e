"""Summary windows hold memory for ``max_age`` only: samples that left the window are released."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from rfs_otel import MemoryMetricsStorage, MetricsCollector
from rfs_otel._engine.window import FOLD
from rfs_otel.testing import ManualClock

STEP = 1 / 128  # exact in binary, so window edges are exact
PER_STEP = 1000
STEPS = 2000  # 2M observations over 15.6 s of a 1 s window
IN_WINDOW = (128 + 1) * PER_STEP  # the samples younger than max_age=1 (both ends included)
SAMPLE_BYTES = 16  # one float64 time and one float64 value


@pytest.fixture
def traced() -> Iterator[None]:
    """tracemalloc running for the test, stopped after."""
    gc.collect()
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


FEED = f"""
import json, resource, sys
from rfs_otel import MemoryMetricsStorage, MetricsCollector
from rfs_otel.testing import ManualClock, retained_samples

clock = ManualClock()
collector = MetricsCollector(storage=MemoryMetricsStorage(), clock=clock)
summary = collector.summary("latency_seconds", max_age=1, max_samples=5_000_000)
summary.observe(0.5)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
observe = summary.observe
for _ in range({STEPS}):
    clock.advance({STEP!r})
    for _ in range({PER_STEP}):
        observe(0.25)
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
retained = retained_samples(summary)  # the samples held in memory
snap = summary.snapshot()
json.dump({{"peak_kib": peak_kib, "retained": retained, "window": summary.get_statistics()["count"],
           "count": sum(snap.counts), "max": snap.max}}, sys.stdout)
collector.shutdown()
"""


def test_samples_older_than_max_age_are_released_while_observing() -> None:
    """2M observations into summary(max_age=1, max_samples=5M) hold ~1 s of samples and memory, not all 2M."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    proc = subprocess.run([sys.executable, "-c", FEED], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # A sample carries the time of its batch's first sample (batches of at most FOLD), so the window's edge is
    # exact up to one batch (docs/concepts.md).
    assert IN_WINDOW - FOLD <= out["window"] <= IN_WINDOW
    assert out["retained"] <= 2.5 * IN_WINDOW  # not the 2M observed: at most ~2 windows' worth before a release
    # Peak resident memory grew by far less than the 32 MB that 2M samples take (keeping them all grew it ~22 MiB).
    assert out["peak_kib"] < 8 * 1024, out
    assert out["count"] == STEPS * PER_STEP + 1
    assert out["max"] == 0.5  # the released sample still counts for the cumulative min/max


def test_an_ended_threads_expired_samples_are_released_at_read(clock: ManualClock, traced: None) -> None:
    """Samples of a thread that has ended are dropped once they leave the window, at collection or read."""
    collector = MetricsCollector(storage=MemoryMetricsStorage(), clock=clock)
    summary = collector.summary("job_seconds", max_age=1, max_samples=1_000_000)
    summary.observe(1.0)
    baseline = tracemalloc.get_traced_memory()[0]

    def burst() -> None:
        for _ in range(50_000):
            summary.observe(2.0)

    worker = threading.Thread(target=burst)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive()
    collector.snapshot()  # folds the ended thread into the series
    loaded = tracemalloc.get_traced_memory()[0] - baseline
    clock.advance(2)
    stats = summary.get_statistics()
    released = tracemalloc.get_traced_memory()[0] - baseline
    collector.shutdown()
    assert loaded > 50_000 * SAMPLE_BYTES
    assert loaded - released >= 50_000 * SAMPLE_BYTES, f"{released} of {loaded} bytes still held after the window"
    assert stats["count"] == 0
    assert summary.snapshot().max == 2.0 and sum(summary.snapshot().counts) == 50_001


def test_window_statistics_stay_exact_across_releases(clock: ManualClock) -> None:
    """Releasing expired samples never changes what the window reports: the newest max_age seconds."""
    collector = MetricsCollector(storage=MemoryMetricsStorage(), clock=clock)
    summary = collector.summary("size_bytes", max_age=10, max_samples=1000)
    for second in range(100):
        clock.advance(1)
        for i in range(20):
            summary.observe(second * 100 + i)
    stats = summary.get_statistics()
    collector.shutdown()
    assert stats["count"] == 11 * 20  # seconds 89..99, both window ends included
    assert stats["min"] == 8900 and stats["max"] == 9919
    assert summary.snapshot().min == 0 and sum(summary.snapshot().counts) == 2000


def test_threads_observing_and_releasing_while_read_lose_nothing() -> None:
    """Four threads releasing expired samples as they observe, read concurrently: every count kept, no error."""
    collector = MetricsCollector(storage=MemoryMetricsStorage())
    summary = collector.summary("work_seconds", max_age=0.01, max_samples=500)
    start = threading.Barrier(5)
    stop = threading.Event()
    errors: list[BaseException] = []

    def work() -> None:
        start.wait(timeout=10)
        for i in range(20_000):
            summary.observe(i % 7)

    def read() -> None:
        start.wait(timeout=10)
        while not stop.is_set():
            try:
                stats = summary.get_statistics()
                assert stats["count"] <= 500
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)
                return

    workers = [threading.Thread(target=work) for _ in range(4)]
    reader = threading.Thread(target=read)
    for thread in [*workers, reader]:
        thread.start()
    deadline = time.monotonic() + 60
    for worker in workers:
        worker.join(timeout=max(deadline - time.monotonic(), 0.1))
    stop.set()
    reader.join(timeout=10)
    collector.snapshot()
    snap = summary.snapshot()
    collector.shutdown()
    assert errors == []
    assert sum(snap.counts) == 4 * 20_000
    assert (snap.min, snap.max) == (0, 6)


def test_multiprocess_summary_window_releases_expired_samples_by_the_collectors_clock(
    tmp_path: Path, traced: None
) -> None:
    """Multiprocess mode: 200,000 observations over 25 s of a 1 s window hold only about one window."""
    clock = ManualClock()
    with MetricsCollector(multiprocess_dir=tmp_path, clock=clock) as collector:
        summary = collector.summary("mp_seconds", max_age=1, max_samples=1_000_000)
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(200):
            for _ in range(1000):
                summary.observe(0.5)
            clock.advance(0.125)  # exact in binary, so the window's edge is exact
        held = tracemalloc.get_traced_memory()[0] - before
        stats = summary.get_statistics()
    assert stats["count"] == 8_000  # the last 1 s: eight steps of 1,000
    assert held < 4_000_000  # 200,000 retained (time, value) pairs would take ~20 MB
