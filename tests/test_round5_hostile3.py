"""Hostile review of round 5: summary readers fold under a lock of their own, apart from the owner's hand-over.

Every read must see each thread's samples as an exact prefix of what that thread observed (none lost, none
twice), whatever other readers, sealing owners, ending threads and forks do meanwhile.
"""

from __future__ import annotations

import math
import os
import select
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rfs_otel import MemoryMetricsStorage, MetricsCollector, Summary
from rfs_otel._engine.sketch import ALPHA, WindowSketch
from rfs_otel._engine.window import EXACT_UP_TO, FOLD, SLICES
from rfs_otel.testing import ManualClock, retained_samples
from tests.forking import FORK_WARNING

#: Values of owner thread ``t`` are ``t * SPAN + i`` for i = 0, 1, ...: a window's values name who recorded them.
SPAN = 1_000_000


def _prefixes(window: list[float], owners: int) -> list[int]:
    """Per owner, how many of its first samples the window holds; fails unless they are exactly 0..n-1."""
    seen: list[list[int]] = [[] for _ in range(owners)]
    for value in window:
        owner, i = divmod(int(value), SPAN)
        seen[owner].append(i)
    for owner, indices in enumerate(seen):
        assert sorted(indices) == list(range(len(indices))), f"owner {owner}: {sorted(indices)[:20]}..."
    return [len(indices) for indices in seen]


def _owners(
    summary: Summary, owners: int, per_owner: int, start: threading.Barrier, pace: Callable[[], object] = lambda: None
) -> list[threading.Thread]:
    """Owner threads observing their own values, calling ``pace`` every few batches (to let reads happen)."""

    def run(t: int) -> None:
        start.wait(10)
        for i in range(per_owner):
            summary.observe(float(t * SPAN + i))
            if i % (4 * FOLD + 29) == 0:
                pace()

    return [threading.Thread(target=run, args=(t,)) for t in range(owners)]


@pytest.fixture(autouse=True)
def _fast_switching() -> Any:
    """Threads switch every few microseconds, so the narrow races between owners and readers happen often."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(5e-6)
    yield
    sys.setswitchinterval(before)


def _wait_for_reads(progress: threading.Condition, reads: Callable[[], int], more: int) -> None:
    """Let readers read ``more`` times (or 2 s pass): the owners' samples are read mid-way, not only at the end."""
    with progress:
        seen = reads()
        progress.wait_for(lambda: reads() >= seen + more, timeout=2)


class _Reads:
    """Readers' completed reads, so owners can pause for one (the windows are read mid-way, not only at the end)."""

    def __init__(self, errors: list[BaseException]) -> None:
        self.count = 0
        self.progress = threading.Condition()
        self._errors = errors

    def done(self) -> None:
        with self.progress:
            self.count += 1
            self.progress.notify_all()

    def pace(self) -> None:
        _wait_for_reads(self.progress, lambda: self.count - len(self._errors), 1)


def _check_prefix_stats(stats: dict[str, float], n: int) -> None:
    """One owner's window holding its first ``n`` samples 0..n-1: count, sum, min and max exactly."""
    assert stats["count"] == n
    assert stats["sum"] == n * (n - 1) / 2
    if n:
        assert (stats["min"], stats["max"]) == (0.0, n - 1.0)


@pytest.mark.parametrize("max_samples", [100_000, 300])
def test_racing_readers_see_every_owner_s_samples_as_an_exact_prefix(max_samples: int) -> None:
    """Readers racing each other and the sealing owners never see a sample twice or miss an older one."""
    owners, per_owner, readers = 3, FOLD * 80 + 17, 3
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = collector.summary("work_seconds", max_samples=max_samples)
        start = threading.Barrier(owners + readers)
        errors: list[BaseException] = []
        stop = threading.Event()
        reads = _Reads(errors)

        writing = _owners(summary, owners, per_owner, start, reads.pace)

        def read(kind: int) -> None:
            start.wait(10)
            deadline = time.monotonic() + 10
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    if kind == 0:
                        window = summary.window()
                        assert len(window) <= max_samples
                        if max_samples >= owners * per_owner:
                            _prefixes(window, owners)
                    elif kind == 1:
                        stats = summary.get_statistics()
                        assert stats["count"] <= max_samples
                    else:
                        collector.collect_and_store_sync()
                        assert (collector.get_sample_value("work_seconds_count") or 0) <= owners * per_owner
                    reads.done()
                except BaseException as error:  # reported by the main thread
                    errors.append(error)
                    return

        reading = [threading.Thread(target=read, args=(k,)) for k in range(readers)]
        for thread in writing + reading:
            thread.start()
        for thread in writing:
            thread.join(20)
        stop.set()
        for thread in reading:
            thread.join(20)
        assert not errors, errors[0]
        assert reads.count > 10  # the windows were read while the owners observed
        _check_final(summary, sorted(float(t * SPAN + i) for t in range(owners) for i in range(per_owner)), max_samples)


def _check_final(summary: Summary, expected: list[float], max_samples: int) -> None:
    """Writers stopped: the window is the newest samples, its statistics and quantiles those of numpy."""
    window = summary.window()
    if max_samples >= len(expected):
        assert window == expected
    else:
        assert len(window) == max_samples
        assert set(window) <= set(expected)
    stats = summary.get_statistics()
    assert stats["count"] == len(window)
    assert stats["sum"] == math.fsum(window)
    for q in (0.0, 0.25, 0.5, 0.9, 0.99, 1.0):
        exact = float(np.percentile(window, q * 100))
        if len(window) <= EXACT_UP_TO:
            assert summary.get_quantile(q) == pytest.approx(exact, rel=1e-12)
        else:
            assert summary.get_quantile(q) == pytest.approx(exact, rel=2 * ALPHA)


def test_one_owner_s_window_read_concurrently_is_always_its_newest_samples_exactly() -> None:
    """With one owner observing 0, 1, 2, ...: every concurrent read's count, sum, min and max are of a prefix."""
    per_owner, step = FOLD * 80, 3 * FOLD + 41  # the owner lets a read happen every ``step`` samples (mid-batch)
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = collector.summary("work_seconds", max_samples=100_000)
        errors: list[BaseException] = []
        stop = threading.Event()
        reads: list[int] = []
        progress = threading.Condition()

        def write() -> None:
            for i in range(per_owner):
                summary.observe(float(i))
                if i % step == 0:
                    _wait_for_reads(progress, lambda: len(reads) - len(errors), 2)

        def read() -> None:
            last = 0
            deadline = time.monotonic() + 10
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    stats = summary.get_statistics()
                    n = int(stats["count"])
                    _check_prefix_stats(stats, n)
                    assert n >= last, (n, last)
                    last = n
                except BaseException as error:  # reported by the main thread
                    errors.append(error)
                    return
                finally:
                    with progress:
                        reads.append(last)
                        progress.notify_all()

        threads = [threading.Thread(target=f) for f in (write, read, read, read)]
        for thread in threads:
            thread.start()
        threads[0].join(30)
        stop.set()
        for thread in threads[1:]:
            thread.join(20)
        assert not errors, errors[0]
        assert len({n for n in reads if 0 < n < per_owner}) > 10  # reads while the owner observed
        _check_prefix_stats(summary.get_statistics(), per_owner)


def test_threads_ending_while_readers_read_are_counted_once() -> None:
    """Owners that end (their windows folded into the base at collection) while others read lose and double nothing."""
    rounds, owners, per_owner = 4, 3, FOLD * 2 + 5
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = collector.summary("work_seconds", max_samples=100_000)
        errors: list[BaseException] = []
        stop = threading.Event()

        def read() -> None:
            deadline = time.monotonic() + 20
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    collector.collect_and_store_sync()  # folds ended threads' windows
                    window = summary.window()
                    assert max(Counter(window).values(), default=0) <= rounds  # each value once per round
                except BaseException as error:  # reported by the main thread
                    errors.append(error)
                    return

        reading = [threading.Thread(target=read) for _ in range(2)]
        for thread in reading:
            thread.start()
        expected: list[float] = []
        for _ in range(rounds):
            start = threading.Barrier(owners)
            writing = _owners(summary, owners, per_owner, start)
            for thread in writing:
                thread.start()
            for thread in writing:
                thread.join(20)
            expected.extend(float(t * SPAN + i) for t in range(owners) for i in range(per_owner))
        stop.set()
        for thread in reading:
            thread.join(20)
        assert not errors, errors[0]
        collector.collect_and_store_sync()
        # Every round reuses the same values: each must be held exactly ``rounds`` times.
        window = summary.window()
        assert window == sorted(expected)
        assert summary.get_statistics()["count"] == len(expected)
        assert sum(summary.snapshot().counts) == len(expected)


@FORK_WARNING
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_while_a_reader_is_folding_gives_a_child_that_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader held inside ``WindowSketch.fold`` when another thread forks: the child reads its summary at once."""
    folding, release = threading.Event(), threading.Event()
    fold = WindowSketch.fold

    def held_fold(self: WindowSketch, *args: Any) -> None:
        if threading.current_thread().name == "held-reader":
            folding.set()
            release.wait(10)
        fold(self, *args)

    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = collector.summary("work_seconds", max_samples=1000)
        for i in range(FOLD * 3):
            summary.observe(float(i))
        monkeypatch.setattr(WindowSketch, "fold", held_fold)
        reader = threading.Thread(target=summary.get_statistics, name="held-reader")
        reader.start()
        assert folding.wait(10)
        r, w = os.pipe()
        result: list[int] = []

        def fork() -> None:
            pid = os.fork()
            if pid == 0:  # the child: read, report, leave without running the parent's cleanup
                code = 1
                try:
                    summary.observe(5.0)
                    stats = summary.get_statistics()
                    os.write(w, f"{stats['count']:.0f} {stats['sum']:.0f}".encode())
                    code = 0
                finally:
                    os._exit(code)
            result.append(pid)

        forker = threading.Thread(target=fork)
        forker.start()
        forker.join(10)
        try:
            ready, _, _ = select.select([r], [], [], 10)
            assert ready, "the forked child did not answer within 10 s (deadlocked on a window lock?)"
            assert os.read(r, 100).decode() == "1 5"  # the child starts from zero
        finally:
            release.set()
            reader.join(10)
            _, status = os.waitpid(result[0], 0)
            os.close(r)
            os.close(w)
        monkeypatch.setattr(WindowSketch, "fold", fold)
        assert status == 0
        assert summary.get_statistics()["count"] == FOLD * 3


def test_memory_stays_bounded_when_only_window_values_are_read() -> None:
    """``window()`` (what alert rules read) releases what it folds beyond the window, as get_statistics() does."""
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = collector.summary("work_seconds", max_samples=1000)
        peak = 0
        for _ in range(20):
            for i in range(5 * FOLD * 10):
                summary.observe(float(i))
            window = summary.window()
            assert window == sorted(float(i) for i in range(5 * FOLD * 10 - 1000, 5 * FOLD * 10))
            peak = max(peak, retained_samples(summary))
        # The window, plus what the owner sealed since the last read and its pending batch.
        assert peak <= 1000 + 2 * FOLD, peak


def _contiguous(window: list[float], owners: int) -> None:
    """Per owner, the window holds a run of consecutive samples: expiry and cuts took its oldest, nothing else."""
    seen: list[list[int]] = [[] for _ in range(owners)]
    for value in window:
        owner, i = divmod(int(value), SPAN)
        seen[owner].append(i)
    for owner, indices in enumerate(seen):
        indices.sort()
        gaps = [(a, b) for a, b in zip(indices, indices[1:]) if b != a + 1]
        assert not gaps, (owner, len(indices), indices[:3], indices[-3:], gaps[:5])


def test_expiry_and_cuts_with_concurrent_reads_keep_each_owner_s_newest_run() -> None:
    """With ``max_age`` expiring and ``max_samples`` cutting while readers read, every read holds at most
    ``max_samples``, each owner's part is a run of consecutive samples, and at the end exactly the young ones."""
    clock = ManualClock()
    owners, per_owner, max_age, max_samples = 2, FOLD * 40, 4.0, 600
    with MetricsCollector(storage=MemoryMetricsStorage(), clock=clock) as collector:
        summary = collector.summary("work_seconds", max_samples=max_samples, max_age=max_age)
        errors: list[BaseException] = []
        stop = threading.Event()
        reads = _Reads(errors)
        times: dict[float, tuple[float, float]] = {}  # each sample's clock just before and just after observe()
        start = threading.Barrier(owners + 2)

        def run(t: int) -> None:
            start.wait(10)
            for i in range(per_owner):
                if t == 0:
                    clock.advance(0.01)  # one owner moves time: the other's batches age by it
                before = clock()
                summary.observe(float(t * SPAN + i))
                times[float(t * SPAN + i)] = (before, clock())
                if i % (4 * FOLD + 29) == 0:
                    reads.pace()

        def read(kind: int) -> None:
            start.wait(10)
            deadline = time.monotonic() + 10
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    if kind:
                        assert summary.get_statistics()["count"] <= max_samples
                    else:
                        window = summary.window()
                        assert len(window) <= max_samples
                        _contiguous(window, owners)
                except BaseException as error:  # reported by the main thread
                    errors.append(error)
                    return
                finally:
                    reads.done()

        threads = [threading.Thread(target=run, args=(t,)) for t in range(owners)]
        threads += [threading.Thread(target=read, args=(k,)) for k in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads[:owners]:
            thread.join(30)
        stop.set()
        for thread in threads[owners:]:
            thread.join(20)
        assert not errors, errors[0]
        assert reads.count > 10
        _check_expired(summary, collector, clock, times)


def _check_expired(
    summary: Summary, collector: MetricsCollector, clock: ManualClock, times: dict[float, tuple[float, float]]
) -> None:
    """Writers stopped: the window holds no sample older than max_age, every young one unless cut; then none."""
    max_age, max_samples = 4.0, 600
    window = summary.window()
    _contiguous(window, 2)
    now = clock()
    # A batch's samples carry its first one's time, so a sample leaves up to max_age / SLICES early, never late.
    assert all(times[v][1] >= now - max_age for v in window)
    young = [v for v, (at, _) in times.items() if at >= now - max_age + max_age / SLICES]
    if len(window) < max_samples:  # nothing was cut by count
        assert set(young) <= set(window)
    stats = summary.get_statistics()
    assert (stats["count"], stats["sum"]) == (len(window), math.fsum(window))
    clock.advance(max_age * 2)
    assert summary.get_statistics()["count"] == 0
    collector.collect_and_store_sync()  # the ended owners' windows (and pending batches) folded away
    assert retained_samples(summary) == 0


def test_a_multiprocess_summary_read_while_threads_observe_and_end_counts_each_sample_once(tmp_path: Path) -> None:
    """Multiprocess mode: reads (each reaps ended threads' windows) racing owners that end lose and double nothing."""
    owners, per_owner = 3, FOLD * 10 + 3
    with MetricsCollector(storage=MemoryMetricsStorage(), multiprocess_dir=tmp_path) as collector:
        summary = collector.summary("work_seconds", max_samples=100_000)
        errors: list[BaseException] = []
        stop = threading.Event()
        reads = _Reads(errors)

        def read() -> None:
            deadline = time.monotonic() + 20
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    stats = summary.get_statistics()
                    assert stats["count"] <= owners * per_owner
                    _prefixes(summary.window(), owners)
                except BaseException as error:  # reported by the main thread
                    errors.append(error)
                    return
                finally:
                    reads.done()

        readers = [threading.Thread(target=read) for _ in range(2)]
        for thread in readers:
            thread.start()
        writing = _owners(summary, owners, per_owner, threading.Barrier(owners), reads.pace)
        for thread in writing:
            thread.start()
        for thread in writing:
            thread.join(20)
        stop.set()
        for thread in readers:
            thread.join(20)
        assert not errors, errors[0]
        expected = sorted(float(t * SPAN + i) for t in range(owners) for i in range(per_owner))
        _check_final(summary, expected, 100_000)
        assert collector.get_sample_value("work_seconds_count") == len(expected)


class _StallingClock(ManualClock):
    """A manual clock that, read by the thread named ``stale-reader``, waits before answering: the read then
    works with a time the owner has since moved past, as a reader preempted after reading the clock does."""

    def __init__(self) -> None:
        super().__init__()
        self.read, self.go = threading.Event(), threading.Event()

    def __call__(self) -> float:
        now = self.now
        if threading.current_thread().name == "stale-reader":
            self.read.set()
            self.go.wait(10)
        return now


def test_a_read_whose_time_the_owner_passed_leaves_no_gap_where_the_owner_dropped_batches() -> None:
    """Batches the owner drops unread (expired by its later clock) take the older samples a reader folded with
    them: a read that started before the drop answers a run of consecutive samples, not old ones, a gap, new ones."""
    clock = _StallingClock()
    with MetricsCollector(storage=MemoryMetricsStorage(), clock=clock) as collector:
        summary = collector.summary("work_seconds", max_samples=100_000, max_age=4.0)

        def observe(values: range) -> None:
            for i in values:
                clock.advance(0.1)  # slices of 4 / SLICES = 0.125 s: a batch seals every other sample
                summary.observe(float(i))

        observe(range(60))
        assert summary.window() == [float(i) for i in range(20, 60)]  # folded into the sketch
        observe(range(60, 70))  # sealed, unread
        window: list[float] = []
        reader = threading.Thread(target=lambda: window.extend(summary.window()), name="stale-reader")
        reader.start()
        assert clock.read.wait(10)
        observe(range(70, 110))  # the owner's seals drop the unread batches of 60..69: expired by now
        clock.go.set()
        reader.join(10)
        assert window, "the stale read answered nothing"
        _contiguous(window, 1)
        assert window[-1] == 109.0
