"""Cheap summary reads: a read reuses the folded counts and counts only what was recorded since the last one."""

from __future__ import annotations

import random
import threading

import numpy as np

from rfs_otel import MetricsCollector, Summary
from rfs_otel._engine.sketch import ALPHA
from rfs_otel._engine.window import FOLD
from rfs_otel.testing import ManualClock

#: The documented bound (quantiles within 0.39% relative of numpy's) plus rounding slack.
BOUND = ALPHA + 1e-9
QUANTILES = (0.5, 0.9, 0.95, 0.99)


def _assert_matches_the_exact_window(summary: Summary, window: list[float]) -> None:
    """Every quantile is within the bound of numpy's quantile of ``window`` (the values the window must hold)."""
    stats = summary.get_statistics()
    assert stats["count"] == len(window)
    for q in QUANTILES:
        exact = float(np.percentile(window, q * 100))
        assert abs(stats[f"p{q * 100:g}"] - exact) <= BOUND * abs(exact), (q, stats, exact)


def _lognormal(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(-2.0, 1.2) for _ in range(n)]


def test_reading_after_every_observe_gives_the_answers_of_a_single_late_read() -> None:
    """A summary read after every observe answers like one read only at the end (same clock, same data)."""
    clock = ManualClock()
    data = _lognormal(6 * FOLD + 37, seed=1)
    with MetricsCollector(clock=clock) as collector:
        often = collector.summary("often_seconds", max_samples=3 * FOLD, quantiles=QUANTILES)
        late = collector.summary("late_seconds", max_samples=3 * FOLD, quantiles=QUANTILES)
        for value in data:
            often.observe(value)
            late.observe(value)
            often.get_statistics()
        a, b = often.get_statistics(), late.get_statistics()
    assert {k: v for k, v in a.items() if k != "sum"} == {k: v for k, v in b.items() if k != "sum"}
    assert abs(a["sum"] - b["sum"]) <= 1e-12 * b["sum"]


def test_two_reads_in_a_row_give_the_same_statistics() -> None:
    """A read with nothing recorded since the previous one reuses its counts and answers the same."""
    with MetricsCollector() as collector:
        summary = collector.summary("same_seconds", max_samples=2_000, quantiles=QUANTILES)
        for value in _lognormal(2_000 + FOLD // 2, seed=2):
            summary.observe(value)
        assert summary.get_statistics() == summary.get_statistics()


def test_pending_values_in_buckets_the_window_never_held_are_within_the_bound() -> None:
    """Values still pending (not yet sealed) in buckets new to the window, above and below it, are counted."""
    with MetricsCollector() as collector:
        summary = collector.summary("new_seconds", max_samples=1_000, quantiles=QUANTILES)
        for value in _lognormal(1_000, seed=3):
            summary.observe(value)
        summary.get_statistics()  # the folded counts are cached now
        data = _lognormal(1_000, seed=3)
        for i in range(FOLD // 2):  # a partly filled batch: far above, far below, and negative
            data.append([1e6 + i, 1e-9 * (i + 1), -5.0 - i][i % 3])
            summary.observe(data[-1])
            _assert_matches_the_exact_window(summary, data[-1_000:])


def test_a_full_window_read_while_its_batch_grows_tracks_the_samples_pushed_out() -> None:
    """In a full window each pending sample pushes the oldest out: reads in between stay within the bound."""
    with MetricsCollector() as collector:
        summary = collector.summary("full_seconds", max_samples=600, quantiles=QUANTILES)
        data = [1.0] * 600  # the oldest samples, all 1.0, are pushed out by far larger ones
        for value in data:
            summary.observe(value)
        for i, value in enumerate(_lognormal(3 * FOLD, seed=4)):
            data.append(100.0 + value)
            summary.observe(data[-1])
            if i % 7 == 0:
                _assert_matches_the_exact_window(summary, data[-600:])
        _assert_matches_the_exact_window(summary, data[-600:])


def test_threads_with_pending_batches_are_merged_within_the_bound() -> None:
    """Several threads' pending batches and folded counts merge into one window within the bound."""
    with MetricsCollector() as collector:
        summary = collector.summary("threads_seconds", max_samples=4_000, quantiles=QUANTILES)
        barrier = threading.Barrier(3)

        def run(seed: int) -> None:
            barrier.wait(timeout=10)
            for value in _lognormal(1_000 + FOLD // 3, seed):
                summary.observe(value)
            barrier.wait(timeout=10)  # both threads are done; the main thread reads while they are alive
            barrier.wait(timeout=10)

        threads = [threading.Thread(target=run, args=(seed,)) for seed in (5, 6)]
        for t in threads:
            t.start()
        barrier.wait(timeout=10)
        barrier.wait(timeout=10)
        data = _lognormal(1_000 + FOLD // 3, 5) + _lognormal(1_000 + FOLD // 3, 6)
        try:
            _assert_matches_the_exact_window(summary, data)
            _assert_matches_the_exact_window(summary, data)
        finally:
            barrier.wait(timeout=10)
            for t in threads:
                t.join(timeout=10)


def test_concurrent_readers_share_a_pending_tally_without_errors() -> None:
    """Two threads reading while one records: every read succeeds and never counts more than was recorded."""
    with MetricsCollector() as collector:
        summary = collector.summary("readers_seconds", max_samples=1_000, quantiles=QUANTILES)
        data = _lognormal(20 * FOLD, seed=7)
        done = threading.Event()
        errors: list[BaseException] = []
        counts: list[float] = []

        def read() -> None:
            try:
                for _ in range(10_000):  # bounded; stops early once the writer is done
                    counts.append(summary.get_statistics()["count"])
                    if done.is_set():
                        break
            except BaseException as error:  # reported by the main thread
                errors.append(error)

        readers = [threading.Thread(target=read) for _ in range(2)]
        for t in readers:
            t.start()
        for value in data:
            summary.observe(value)
        done.set()
        for t in readers:
            t.join(timeout=30)
        assert not errors and counts and max(counts) <= 1_000
        _assert_matches_the_exact_window(summary, data[-1_000:])
