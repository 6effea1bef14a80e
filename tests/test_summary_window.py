"""The summary window: bounded-error quantiles against numpy, bounded memory, bounded work per observe()."""

from __future__ import annotations

import math
import random
import threading
from pathlib import Path

import numpy as np
import pytest

from rfs_otel import MemoryMetricsStorage, MetricsCollector, Summary
from rfs_otel._engine.sketch import ALPHA
from rfs_otel._engine.window import DROP_BUDGET, FOLD
from rfs_otel.testing import ManualClock, retained_samples

#: The documented bound: quantiles within 0.4% relative of numpy's (linear) quantile of the same window.
BOUND = ALPHA
#: Rounding slack on top of the bound (log/exp of the bucket mapping).
SLACK = 1e-9
QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.999)


def _assert_within_bound(summary: Summary, data: list[float]) -> None:
    for q in QUANTILES:
        exact = float(np.percentile(data, q * 100))
        got = summary.get_quantile(q)
        assert abs(got - exact) <= (BOUND + SLACK) * abs(exact), (q, got, exact)


def _observe_in_threads(collector: MetricsCollector, name: str, parts: list[list[float]]) -> Summary:
    summary = collector.summary(name, max_samples=1_000_000, max_age=3600, quantiles=QUANTILES)
    barrier = threading.Barrier(len(parts) + 1)

    def run(values: list[float]) -> None:
        barrier.wait(timeout=10)
        for v in values:
            summary.observe(v)

    def read() -> None:  # a concurrent reader never sees more than was observed, nor breaks the writers
        barrier.wait(timeout=10)
        counts.append(summary.get_statistics()["count"])
        while any(t.is_alive() for t in threads):
            counts.append(summary.get_statistics()["count"])

    counts: list[float] = []
    threads = [threading.Thread(target=run, args=(part,)) for part in parts]
    reader = threading.Thread(target=read)
    for t in threads:
        t.start()
    reader.start()
    for t in [*threads, reader]:
        t.join(timeout=30)
    assert counts and max(counts) <= sum(map(len, parts))
    return summary


def test_lognormal_quantiles_from_four_threads_are_within_the_bound_of_numpy() -> None:
    """Four threads observe log-normal data; every quantile is within the bound of numpy.percentile of all of it."""
    rng = random.Random(11)
    parts = [[rng.lognormvariate(-2.0, 1.2) for _ in range(20_000)] for _ in range(4)]
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = _observe_in_threads(collector, "lognormal_seconds", parts)
        stats = summary.get_statistics()
        data = [v for part in parts for v in part]
        assert stats["count"] == len(data)
        assert stats["sum"] == pytest.approx(math.fsum(data), rel=1e-12)
        assert (stats["min"], stats["max"]) == (min(data), max(data))
        _assert_within_bound(summary, data)


def test_bimodal_quantiles_from_threads_are_within_the_bound_of_numpy() -> None:
    """Two well-separated modes (fast cache hits, slow misses) across three threads: still within the bound."""
    rng = random.Random(5)
    parts = [
        [rng.gauss(0.002, 0.0003) if rng.random() < 0.8 else rng.gauss(0.4, 0.05) for _ in range(15_000)]
        for _ in range(3)
    ]
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = _observe_in_threads(collector, "bimodal_seconds", parts)
        _assert_within_bound(summary, [v for part in parts for v in part])


def test_signed_data_keeps_the_bound_for_quantiles_between_same_signed_neighbours() -> None:
    """Negative values mirror positive ones, zero is exact: quantiles of mostly negative data stay within the bound."""
    rng = random.Random(3)
    data = [-rng.lognormvariate(0.0, 2.0) for _ in range(5000)] + [0.0] * 10
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = collector.summary("offset_seconds", max_samples=10_000, quantiles=(0.01, 0.5, 0.9))
        for v in data:
            summary.observe(v)
        for q in (0.01, 0.5, 0.9):
            exact = float(np.percentile(data, q * 100))
            assert abs(summary.get_quantile(q) - exact) <= (BOUND + SLACK) * abs(exact)
        assert summary.get_quantile(1.0) == 0.0


def test_windows_of_up_to_512_samples_have_numpys_exact_quantiles() -> None:
    """A small window answers exactly what numpy.percentile answers."""
    rng = random.Random(9)
    data = [rng.expovariate(3.0) for _ in range(512)]
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = collector.summary("small_seconds", quantiles=QUANTILES)
        for v in data:
            summary.observe(v)
        for q in QUANTILES:
            assert summary.get_quantile(q) == pytest.approx(float(np.percentile(data, q * 100)), rel=1e-12)


def test_the_count_bound_keeps_the_newest_max_samples_and_releases_the_rest() -> None:
    """With max_samples=5000, after 50,000 observations the window is the last 5000 and memory holds about that."""
    data = [float(i) for i in range(50_000)]
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = collector.summary("capped_seconds", max_samples=5000, quantiles=(0.5,))
        for v in data:
            summary.observe(v)
        assert retained_samples(summary) <= 5000 + 2 * FOLD  # the window plus a sealed and a pending batch
        stats = summary.get_statistics()
    window = data[-5000:]
    assert (stats["count"], stats["min"], stats["max"]) == (5000, 45_000.0, 49_999.0)
    assert stats["sum"] == math.fsum(window)
    assert abs(stats["p50"] - float(np.percentile(window, 50))) <= BOUND * stats["p50"]


def test_the_age_bound_drops_expired_samples_from_statistics_and_memory() -> None:
    """Samples older than max_age leave the statistics, and a read releases their memory."""
    clock = ManualClock()
    with MetricsCollector(storage=MemoryMetricsStorage(), clock=clock) as collector:
        summary = collector.summary("aged_seconds", max_age=10, max_samples=100_000, quantiles=(0.5,))
        for _ in range(3000):
            summary.observe(100.0)
        clock.advance(6)
        for _ in range(2000):
            summary.observe(1.0)
        clock.advance(5)  # the 100.0s are 11 s old, the 1.0s 5 s old
        stats = summary.get_statistics()
        assert (stats["count"], stats["max"], stats["p50"]) == (2000, 1.0, 1.0)
        assert retained_samples(summary) == 2000
        clock.advance(6)
        assert summary.get_statistics()["count"] == 0
        assert retained_samples(summary) < FOLD  # only the owner thread's unfolded batch (under FOLD samples) stays


def test_one_observe_after_a_pause_releases_a_bounded_batch_not_the_whole_window() -> None:
    """After the whole window expired, no single observe() releases more than a bounded batch (no stall)."""
    clock = ManualClock()
    with MetricsCollector(storage=MemoryMetricsStorage(), clock=clock) as collector:
        summary = collector.summary("paused_seconds", max_age=10, max_samples=100_000)
        for i in range(50_000):
            if i % 1000 == 0:
                clock.advance(0.1)  # the window spans 5 s, so it is partly expired when released below
            summary.observe(float(i))
        held = retained_samples(summary)
        clock.advance(7.5)  # about half the samples are now older than max_age
        released = []
        for _ in range(2 * FOLD):  # a fold because the batch is due, then one because it is full
            summary.observe(1.0)
            now = retained_samples(summary)
            released.append(held + 1 - now)
            held = now
        assert sum(released) > 0 and max(released) <= DROP_BUDGET * FOLD
        # The read releases the rest; a sample carries its batch's time, so the cut is exact up to a batch.
        assert 25_000 - FOLD <= summary.get_statistics()["count"] - 2 * FOLD <= 25_000


def test_a_huge_value_passing_through_the_window_does_not_swallow_the_sum() -> None:
    """1e300 enters and leaves the window; the small values' sum survives it."""
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = collector.summary("spiky_seconds", max_samples=1000)
        summary.observe(1e300)
        for _ in range(3000):
            summary.observe(0.25)
        stats = summary.get_statistics()
    assert (stats["count"], stats["sum"], stats["max"]) == (1000, 250.0, 0.25)


def test_an_ended_threads_samples_stay_in_the_window() -> None:
    """Observations made by a thread that has ended still count until they expire."""
    rng = random.Random(2)
    data = [rng.lognormvariate(0, 1) for _ in range(4000)]
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = collector.summary("ended_seconds", max_samples=10_000, quantiles=(0.9,))
        worker = threading.Thread(target=lambda: [summary.observe(v) for v in data[:2000]])
        worker.start()
        worker.join(timeout=30)
        for v in data[2000:]:
            summary.observe(v)
        collector.collect_and_store_sync()  # a collection folds the ended thread's cell into the base
        stats = summary.get_statistics()
    assert stats["count"] == 4000
    assert abs(stats["p90"] - float(np.percentile(data, 90))) <= BOUND * stats["p90"]


def test_a_multiprocess_summarys_own_window_uses_the_same_bounded_structure(tmp_path: Path) -> None:
    """In multiprocess mode get_statistics() describes this process's window, ended threads included, within bound."""
    clock = ManualClock()
    rng = random.Random(4)
    data = [rng.lognormvariate(-1.0, 1.5) for _ in range(6000)]
    with MetricsCollector(multiprocess_dir=tmp_path, clock=clock) as collector:
        summary = collector.summary("worker_seconds", max_age=60, max_samples=100_000, quantiles=(0.5, 0.99))
        worker = threading.Thread(target=lambda: [summary.observe(v) for v in data[:3000]])
        worker.start()
        worker.join(timeout=30)
        for v in data[3000:]:
            summary.observe(v)
        stats = summary.get_statistics()
        assert (stats["count"], stats["min"], stats["max"]) == (6000, min(data), max(data))
        for q in (0.5, 0.99):
            exact = float(np.percentile(data, q * 100))
            assert abs(summary.get_quantile(q) - exact) <= (BOUND + SLACK) * exact
        clock.advance(61)
        assert summary.get_statistics()["count"] == 0
        assert retained_samples(summary) < FOLD  # the ended thread's window is gone; this thread's batch waits


def test_a_window_whose_sum_overflows_reports_infinity_then_recovers() -> None:
    """Two 1e308s sum to inf while in the window; once they left, the sum is the small values' again."""
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = collector.summary("huge_seconds", max_samples=1000)
        summary.observe(1e308)
        summary.observe(1e308)
        for _ in range(998):
            summary.observe(0.5)
        assert summary.get_statistics()["sum"] == math.inf
        for _ in range(1000):
            summary.observe(0.5)
        stats = summary.get_statistics()
    assert (stats["count"], stats["sum"]) == (1000, 500.0)


def test_threads_over_max_samples_together_keep_exactly_the_newest_max_samples() -> None:
    """Four live threads hold 4 x 3000 samples; with max_samples=5000 the window is the newest 5000 of all."""
    clock = ManualClock()
    order = threading.Lock()
    recorded: list[tuple[float, float]] = []
    done, release = threading.Barrier(5), threading.Event()
    rng = random.Random(8)
    with MetricsCollector(storage=MemoryMetricsStorage(), clock=clock) as collector:
        summary = collector.summary("pool_seconds", max_age=3600, max_samples=5000, quantiles=(0.5, 0.99))

        def run(seed: int) -> None:
            local = random.Random(seed)
            for _ in range(3000):
                with order:  # one recorder at a time, so every sample has its own time
                    clock.advance(0.001)
                    value = local.lognormvariate(0.0, 1.0)
                    summary.observe(value)
                    recorded.append((clock.now, value))
            done.wait(timeout=30)
            release.wait(timeout=30)  # stay alive: the read sees four live threads' windows

        threads = [threading.Thread(target=run, args=(rng.random(),)) for _ in range(4)]
        for t in threads:
            t.start()
        done.wait(timeout=30)
        try:
            stats = summary.get_statistics()
            again = summary.get_statistics()
            p50, p99 = summary.get_quantile(0.5), summary.get_quantile(0.99)
        finally:
            release.set()
            for t in threads:
                t.join(timeout=30)
    # A sample carries its batch's time (batches of at most FOLD per thread), so the cut between the newest
    # 5000 and the rest is exact up to one batch per thread: the window lies between these two.
    ordered = [v for _, v in sorted(recorded)]
    newest, widest = ordered[-5000:], ordered[-5000 - 4 * FOLD :]
    assert stats["count"] == 5000 and again == stats
    assert min(widest) <= stats["min"] and stats["max"] <= max(widest)
    assert math.fsum(newest) - 4 * FOLD * max(widest) <= stats["sum"] <= math.fsum(newest) + 4 * FOLD * max(widest)
    # The window is 5000 of the widest 5000 + 4 batches (not always a superset of the newest 5000: a thread's
    # pending batch goes with its first sample's time), so its q-quantile, between its ranks floor and ceil of
    # q * 4999, lies between the widest's values at those ranks and at those ranks plus the 4 * FOLD extra.
    spread = sorted(widest)
    for got, q in ((p50, 0.5), (p99, 0.99)):
        low, high = spread[math.floor(q * 4999)], spread[min(math.ceil(q * 4999) + 4 * FOLD, len(spread) - 1)]
        assert low * (1 - BOUND) <= got <= high * (1 + BOUND)
