"""Hostile review of round 5: summary totals counted at seal time, and storages that serve one collector.

A summary's cumulative count, sum, buckets, min and max must equal the exact totals of everything observed, from
every reader, at every moment; a storage must be refused by a second collector, atomically and by name.
"""

from __future__ import annotations

import gc
import math
import os
import random
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from opentelemetry.sdk.metrics.export import MetricReader
from prometheus_client.parser import text_string_to_metric_families

from rfs_otel import (
    FileMetricsStorage,
    MemoryMetricsStorage,
    MetricsCollector,
    MetricsStorage,
    PrometheusStorage,
    Summary,
)
from rfs_otel._engine.sketch import ALPHA
from rfs_otel._engine.window import FOLD
from rfs_otel._result import Result, Success
from rfs_otel.testing import ManualClock, exported_points, retained_samples
from tests.forking import FORK_WARNING

#: Buckets whose every bucket receives exactly one of VALUES: a snapshot's sum is then fixed by its counts.
BOUNDS = (1.0, 2.0, 4.0, 8.0, 16.0)
VALUES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


def _summary(collector: MetricsCollector, name: str = "work_seconds", **kwargs: Any) -> Summary:
    kwargs.setdefault("buckets", BOUNDS)
    return collector.summary(name, **kwargs)


def _consistent(counts: Sequence[int], total: float) -> None:
    """One reading's buckets and sum describe the same samples (each bucket holds one of VALUES)."""
    assert math.fsum(c * v for c, v in zip(counts, VALUES)) == total, (list(counts), total)


def _assert_totals(summary: Summary, observed: list[float]) -> None:
    """The cumulative part equals the exact totals of ``observed`` (count, fsum, per-bucket, min, max)."""
    snap = summary.snapshot()
    assert sum(snap.counts) == len(observed)
    assert snap.sum == math.fsum(observed)
    if observed:
        assert (snap.min, snap.max) == (min(observed), max(observed))
        expected = [
            sum(1 for v in observed if (BOUNDS[i - 1] if i else -math.inf) < v <= b)
            for i, b in enumerate([*BOUNDS, math.inf])
        ]
        assert list(snap.counts) == expected


def _feed(summary: Summary, values: list[float]) -> None:
    for v in values:
        summary.observe(v)


def _run(threads: list[threading.Thread], timeout: float = 30) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
        assert not t.is_alive()


def test_totals_read_while_threads_observe_never_exceed_or_lag_what_was_observed() -> None:
    """Four writers, a reader on every path: each reading lies between what had finished and what had begun."""
    storage = MemoryMetricsStorage()
    with MetricsCollector(storage=storage) as collector:
        summary = _summary(collector, max_samples=1000, max_age=3600)
        writers, per_writer = 4, 6_000
        started, finished = [0] * writers, [0] * writers
        barrier = threading.Barrier(writers + 1)
        readings: list[str] = []

        def write(i: int) -> None:
            barrier.wait(timeout=10)
            for n in range(per_writer):
                started[i] += 1
                summary.observe(VALUES[(n + i) % len(VALUES)])
                finished[i] += 1

        def bounded(read: Callable[[], float], how: str) -> None:
            low = sum(finished)
            got = read()
            high = sum(started)
            assert low <= got <= high, (how, low, got, high)
            readings.append(how)

        def otel_count() -> float:
            (point,) = exported_points(storage.collect(), "work_seconds")
            return float(point.count)

        def read() -> None:
            barrier.wait(timeout=10)
            while any(finished[i] < per_writer for i in range(writers)):
                snap = summary.snapshot()
                _consistent(snap.counts, snap.sum)
                bounded(lambda: sum(summary.snapshot().counts), "snapshot")
                bounded(lambda: collector.get_sample_value("work_seconds_count") or 0.0, "sample")
                bounded(otel_count, "otel")

        _run([threading.Thread(target=write, args=(i,)) for i in range(writers)] + [threading.Thread(target=read)])
        assert readings
        observed = [VALUES[(n + i) % len(VALUES)] for i in range(writers) for n in range(per_writer)]
        _assert_totals(summary, observed)
        assert collector.get_sample_value("work_seconds_count") == len(observed)
        assert collector.get_sample_value("work_seconds_sum") == math.fsum(observed)


def test_totals_survive_thread_churn_while_collections_fold_ended_threads() -> None:
    """Forty short threads (each leaves a sealed and a pending batch) end while collections fold them: exact."""
    storage = MemoryMetricsStorage()
    with MetricsCollector(storage=storage) as collector:
        summary = _summary(collector, max_samples=500, max_age=3600)
        observed: list[float] = []
        lock = threading.Lock()
        stop = threading.Event()
        problems: list[str] = []

        def write(seed: int) -> None:
            rng = random.Random(seed)
            mine = [rng.choice(VALUES) for _ in range(FOLD * 2 + seed)]
            for v in mine:
                summary.observe(v)
            with lock:
                observed.extend(mine)

        def read() -> None:
            while not stop.is_set():
                with lock:
                    low = len(observed)
                count = collector.get_sample_value("work_seconds_count") or 0.0
                snap = summary.snapshot()
                if count < low:
                    problems.append(f"count {count} below {low} finished")
                _consistent(snap.counts, snap.sum)

        reader = threading.Thread(target=read)
        reader.start()
        for batch in range(4):
            _run([threading.Thread(target=write, args=(batch * 10 + i,)) for i in range(10)])
            collector.collect_and_store_sync()
        stop.set()
        reader.join(timeout=30)
        assert not problems, problems[:3]
        assert collector.thread_slot_count() <= 2
        _assert_totals(summary, observed)
        (point,) = exported_points(storage.collect(), "work_seconds")
        assert (point.count, point.sum) == (len(observed), math.fsum(observed))


@contextmanager
def _fast_switching() -> Iterator[None]:
    """Threads switch every microsecond, so the narrow races between a read and a collection happen often."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def test_a_read_racing_the_collection_that_folds_an_ended_thread_counts_it_exactly_once() -> None:
    """Threads end one after another while collections fold them and a reader reads: the ended thread's samples
    are read in its own cell or in the base, never in both (double) and never in neither (lost)."""
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = _summary(collector, max_samples=10)
        counter = collector.counter("jobs_total")
        started, finished = [0], [0]
        stop = threading.Event()
        bad: list[tuple[int, float, float, int]] = []

        def one() -> None:
            started[0] += 1
            summary.observe(1.0)
            counter.increment()
            finished[0] += 1

        def churn() -> None:
            while not stop.is_set():
                _run([threading.Thread(target=one)])

        def collect() -> None:
            while not stop.is_set():
                collector.collect_and_store_sync()

        def read() -> None:
            while not stop.is_set():
                low = finished[0]
                count, total = sum(summary.snapshot().counts), counter.get_value()
                high = started[0]
                if not (low <= count <= high and low <= total <= high):
                    bad.append((low, count, total, high))

        with _fast_switching():
            threads = [threading.Thread(target=f) for f in (churn, collect, read)]
            for t in threads:
                t.start()
            stop.wait(1.5)
            stop.set()
            for t in threads:
                t.join(timeout=10)
        assert finished[0] > 0
        assert not bad, bad[:5]
        assert sum(summary.snapshot().counts) == counter.get_value() == finished[0]


@FORK_WARNING
def test_a_forked_child_counts_from_zero_and_the_parent_keeps_its_totals() -> None:
    """A child's summary starts empty (its parent's samples are the parent's); the parent's totals stay exact."""
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = _summary(collector, max_samples=100, max_age=3600)
        before = [VALUES[i % 6] for i in range(FOLD * 3 + 17)]  # sealed batches and a pending one at fork
        for v in before:
            summary.observe(v)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe
            code = 1
            try:
                child = [VALUES[i % 5] for i in range(FOLD + 3)]
                for v in child:
                    summary.observe(v)
                snap = summary.snapshot()
                ok = sum(snap.counts) == len(child) and snap.sum == math.fsum(child)
                os.write(write, f"{ok} {sum(snap.counts)} {snap.sum}".encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        with os.fdopen(read) as pipe:
            answer = pipe.read()
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0 and answer.startswith("True"), answer
        after = [32.0] * 5
        for v in after:
            summary.observe(v)
        _assert_totals(summary, before + after)


def test_removed_cleared_and_expired_series_start_again_from_zero() -> None:
    """remove(), clear() and TTL expiry end a stream; recorded on again, it counts only what came after."""
    clock = ManualClock()
    with MetricsCollector(storage=MemoryMetricsStorage(), clock=clock, series_ttl=60) as collector:
        for end in ("remove", "clear", "ttl"):
            name = f"{end}_seconds"
            old = _summary(collector, name, labels={"k": "a"}, max_samples=50)
            for i in range(FOLD + 40):
                old.observe(VALUES[i % 6])
            if end == "remove":
                assert collector.remove(name, {"k": "a"})
            elif end == "clear":
                assert collector.clear(name) == 1
            else:
                collector.collect_and_store_sync()  # the sweep notes the series' activity ...
                clock.advance(120)
                collector.collect_and_store_sync()  # ... and expires it once idle past series_ttl
            assert collector.get_sample_value(f"{name}_count", {"k": "a"}) is None
            old.observe(32.0)  # the old handle starts the new stream
            new = _summary(collector, name, labels={"k": "a"}, max_samples=50)
            for v in (2.0, 4.0):
                new.observe(v)
            _assert_totals(new, [32.0, 2.0, 4.0])
            assert new.get_statistics()["count"] == 3
            assert collector.get_sample_value(f"{name}_count", {"k": "a"}) == 3
            assert collector.get_sample_value(f"{name}_sum", {"k": "a"}) == 38.0


def test_removal_while_another_thread_observes_keeps_only_samples_of_the_new_stream() -> None:
    """A thread observes while the series is removed again and again: after each removal the totals hold at most
    what that thread began since, and buckets and sum agree."""
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = _summary(collector, labels={"k": "a"}, max_samples=64)
        stop = threading.Event()
        started, finished = [0], [0]

        def hammer() -> None:
            while not stop.is_set():
                started[0] += 1
                summary.observe(VALUES[started[0] % 6])
                finished[0] += 1

        thread = threading.Thread(target=hammer)
        thread.start()
        try:
            for _ in range(30):
                before = finished[0]
                collector.remove("work_seconds", {"k": "a"})
                snap = summary.snapshot()
                assert sum(snap.counts) <= started[0] - before
                _consistent(snap.counts, snap.sum)
        finally:
            stop.set()
            thread.join(timeout=10)
        summary.remove()
        summary.observe(8.0)
        _assert_totals(summary, [8.0])


@pytest.mark.parametrize("end", ["remove", "series.remove", "clear"])
def test_a_removed_series_recorded_on_again_is_removed_again_before_any_collection(end: str) -> None:
    """Removed, recorded on through the old handle, removed again with no collection between: the second removal
    drops what came in between (it used to be a no-op that let those samples come back)."""
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = _summary(collector, labels={"k": "a"}, max_samples=16)
        counter = collector.counter("jobs_total", labels={"k": "a"})
        for _ in range(2):
            summary.observe(2.0)
            counter.increment()
            if end == "remove":
                assert collector.remove("work_seconds", {"k": "a"}) and collector.remove("jobs_total", {"k": "a"})
            elif end == "series.remove":
                assert summary.remove() and counter.remove()
            else:
                assert collector.clear("work_seconds") == collector.clear("jobs_total") == 1
        assert collector.get_sample_value("work_seconds_count", {"k": "a"}) is None
        assert collector.get_sample_value("jobs_total", {"k": "a"}) is None
        summary.observe(8.0)
        counter.increment(5)
        _assert_totals(summary, [8.0])
        assert collector.get_sample_value("work_seconds_count", {"k": "a"}) == 1
        assert collector.get_sample_value("jobs_total", {"k": "a"}) == 5


def test_expiry_and_a_clock_going_backwards_lose_and_double_nothing() -> None:
    """Samples leaving the window (time and count) and a clock stepping back keep the cumulative totals exact."""
    clock = ManualClock()
    with MetricsCollector(storage=MemoryMetricsStorage(), clock=clock) as collector:
        summary = _summary(collector, max_age=1.0, max_samples=300)
        rng = random.Random(3)
        observed: list[float] = []
        latest = clock.now
        for step in range(3_000):
            v = rng.choice(VALUES)
            summary.observe(v)
            observed.append(v)
            clock.advance(rng.choice([0.0, 0.001, 0.02, 0.4, 2.5, -0.7, -3.0]))
            latest = max(latest, clock.now)
            if step % 97 == 0:
                stats = summary.get_statistics()
                assert stats["count"] <= 300
                _assert_totals(summary, observed)
        clock.now = latest + 10  # past every time the window saw (a batch keeps the latest time seen)
        assert summary.get_statistics()["count"] == 0
        _assert_totals(summary, observed)
        assert collector.get_sample_value("work_seconds_count") == len(observed)


@pytest.mark.parametrize("max_samples", [1, 2, 129, 100_000])
def test_tiny_and_huge_windows_keep_exact_totals_and_bounded_windows(max_samples: int) -> None:
    """max_samples 1 and 2 hold one or two samples yet count everything; a huge window counts the same."""
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = _summary(collector, max_samples=max_samples, max_age=3600)
        observed = [VALUES[(i * 7) % 6] for i in range(FOLD * 5 + 3)]
        for v in observed:
            summary.observe(v)
        stats = summary.get_statistics()
        assert stats["count"] == min(max_samples, len(observed))
        assert summary.window() == sorted(observed[-max_samples:])
        _assert_totals(summary, observed)


@pytest.mark.parametrize("max_samples", [1, 2, 129, 300])
def test_an_ended_threads_window_folded_into_the_base_keeps_its_newest_samples(max_samples: int) -> None:
    """Threads observe one after another and end; folded into the base, the window is still the newest samples."""
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = _summary(collector, max_samples=max_samples, max_age=3600)
        observed = [VALUES[(i * 7) % 6] for i in range(FOLD * 6 + 10)]
        for part in (observed[: FOLD * 3 + 5], observed[FOLD * 3 + 5 :]):
            _run([threading.Thread(target=_feed, args=(summary, part))])
            collector.collect_and_store_sync()  # folds the ended thread's cell into the base
            assert collector.thread_slot_count() == 0
        assert summary.window() == sorted(observed[-max_samples:])
        _assert_totals(summary, observed)


def test_time_based_seals_with_several_threads_count_every_sample_once() -> None:
    """A tiny max_age seals batches by age (not size) in every thread; totals stay exact under a reader."""
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = _summary(collector, max_age=0.002, max_samples=10_000)
        parts = [[VALUES[(i + n) % 6] for n in range(4_000)] for i in range(3)]
        barrier = threading.Barrier(len(parts) + 1)
        done = threading.Event()

        def write(values: list[float]) -> None:
            barrier.wait(timeout=10)
            for v in values:
                summary.observe(v)

        def read() -> None:
            barrier.wait(timeout=10)
            while not done.is_set():
                snap = summary.snapshot()
                _consistent(snap.counts, snap.sum)
                summary.get_statistics()

        reader = threading.Thread(target=read)
        reader.start()
        _run([threading.Thread(target=write, args=(p,)) for p in parts])
        done.set()
        reader.join(timeout=10)
        _assert_totals(summary, [v for p in parts for v in p])


def test_a_multiprocess_summary_fed_by_threads_exports_the_exact_totals(tmp_path: Path) -> None:
    """Multiprocess mode: the shared distribution counts every sample once, while threads record and end."""
    with MetricsCollector(storage=MemoryMetricsStorage(), multiprocess_dir=tmp_path) as collector:
        summary = _summary(collector, max_samples=100, max_age=3600)
        parts = [[VALUES[(i + n) % 6] for n in range(FOLD * 4 + i)] for i in range(4)]
        _run([threading.Thread(target=_feed, args=(summary, p)) for p in parts])
        observed = [v for p in parts for v in p]
        _assert_totals(summary, observed)
        assert collector.get_sample_value("work_seconds_count") == len(observed)
        assert collector.get_sample_value("work_seconds_sum") == math.fsum(observed)
        assert summary.get_statistics()["count"] == 100


def test_prometheus_exposition_counts_equal_the_exact_totals() -> None:
    """The scraped ``_count`` and ``_sum`` of a summary fed by threads equal the exact totals."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        summary = _summary(collector, max_samples=200)
        parts = [[random.Random(i).lognormvariate(0, 1) for _ in range(3_000)] for i in range(3)]
        _run([threading.Thread(target=_feed, args=(summary, p)) for p in parts])
        samples = {
            s.name: s.value
            for family in text_string_to_metric_families(storage.exposition().decode())
            for s in family.samples
        }
        observed = [v for p in parts for v in p]
        assert samples["work_seconds_count"] == len(observed)
        assert samples["work_seconds_sum"] == pytest.approx(math.fsum(observed), rel=1e-12)


def test_quantiles_of_a_threaded_window_stay_within_the_bound_under_concurrent_reads() -> None:
    """Log-normal and bimodal data from three threads, read while recorded: quantiles within ALPHA of numpy."""
    rng = random.Random(8)
    parts = [
        [
            rng.lognormvariate(-1, 1.5) if i % 2 else rng.choice([rng.gauss(0.002, 2e-4), rng.gauss(0.5, 0.05)])
            for _ in range(12_000)
        ]
        for i in range(3)
    ]
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = collector.summary("mixed_seconds", max_samples=100_000, max_age=3600)
        done = threading.Event()

        def read() -> None:
            while not done.is_set():
                summary.get_quantile(0.99)

        reader = threading.Thread(target=read)
        reader.start()
        _run([threading.Thread(target=_feed, args=(summary, p)) for p in parts])
        done.set()
        reader.join(timeout=10)
        data = [v for p in parts for v in p]
        for q in (0.5, 0.9, 0.99, 0.999):
            exact = float(np.percentile(data, q * 100))
            assert abs(summary.get_quantile(q) - exact) <= (ALPHA + 1e-9) * abs(exact), q


def test_memory_stays_bounded_with_no_reader_at_all() -> None:
    """300k samples and no read: a thread holds about max_samples (count) or max_age (time) worth, not all."""
    clock = ManualClock()
    with MetricsCollector(storage=MemoryMetricsStorage(), clock=clock) as collector:
        by_count = collector.summary("count_bound_seconds", max_samples=1_000, max_age=3600)
        by_age = collector.summary("age_bound_seconds", max_samples=10_000_000, max_age=1.0)
        peak = 0
        for i in range(300_000):
            by_count.observe(float(i))
            by_age.observe(float(i))
            if i % 1000 == 0:
                clock.advance(0.1)  # 30 s in all, 10k samples a second: the age window is ~10k samples
                peak = max(peak, retained_samples(by_count))
        assert peak <= 1_000 + 2 * FOLD
        assert retained_samples(by_age) <= 12_000
        assert sum(by_count.snapshot().counts) == sum(by_age.snapshot().counts) == 300_000


# -- a storage serves one collector ---------------------------------------------------------------------


def _names(storage: MemoryMetricsStorage) -> list[str]:
    data = storage.collect()
    assert data is not None
    return [m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]


def _built_in(kind: str, tmp_path: Path) -> MetricsStorage:
    from rfs_otel import OTLPStorage

    makers: dict[str, Callable[[], MetricsStorage]] = {
        "memory": MemoryMetricsStorage,
        "file": lambda: FileMetricsStorage(str(tmp_path / "m.jsonl")),
        "prometheus": lambda: PrometheusStorage(dashboard=False),
        "prometheus-port": lambda: PrometheusStorage(port=0, dashboard=False),
        "otlp-http": lambda: OTLPStorage("http://127.0.0.1:9/v1/metrics", protocol="http/protobuf", timeout=0.2),
        "otlp-grpc": lambda: OTLPStorage("127.0.0.1:9", protocol="grpc", insecure=True, timeout=0.2),
    }
    return makers[kind]()


@pytest.mark.parametrize("kind", ["memory", "file", "prometheus", "prometheus-port", "otlp-http", "otlp-grpc"])
def test_every_built_in_storage_is_refused_by_a_second_collector_and_keeps_serving_the_first(
    kind: str, tmp_path: Path
) -> None:
    """The second collector's ValueError names the storage's class; the first still records and exports."""
    storage = _built_in(kind, tmp_path)
    with MetricsCollector(storage=storage) as first:
        with pytest.raises(ValueError, match=rf"already served another MetricsCollector.*new {type(storage).__name__}"):
            MetricsCollector(storage=storage)
        first.counter("jobs_total").increment(3)
        assert first.get_sample_value("jobs_total") == 3
        if isinstance(storage, PrometheusStorage):
            assert re.search(rb"\njobs_total\{[^}]*\} 3\.0\n", storage.exposition())
        if kind == "prometheus-port":
            import urllib.request

            with urllib.request.urlopen(storage.url, timeout=5) as response:  # type: ignore[attr-defined]
                assert re.search(rb"\njobs_total\{[^}]*\} 3\.0\n", response.read())
        if kind == "file":
            assert first.collect_and_store_sync().is_success()
            assert "jobs_total" in (tmp_path / "m.jsonl").read_text()


def test_the_default_collector_s_storage_is_refused_to_a_new_collector() -> None:
    """get_metrics_collector()'s own storage cannot be handed to another collector; set_metrics_collector of a
    collector with a fresh storage works and the default keeps its storage."""
    from rfs_otel import get_metrics_collector, set_metrics_collector

    default = get_metrics_collector()
    (storage,) = default.storages
    with pytest.raises(ValueError, match="already served another MetricsCollector"):
        MetricsCollector(storage=storage)
    mine = MetricsCollector(storage=MemoryMetricsStorage())
    previous = set_metrics_collector(mine)
    try:
        assert previous is default
        get_metrics_collector().counter("round5_jobs_total").increment()
        assert mine.get_sample_value("round5_jobs_total") == 1
    finally:
        set_metrics_collector(previous)
        mine.shutdown()
    assert storage.claimed


def test_a_storage_whose_collector_was_garbage_collected_is_still_refused() -> None:
    """Its OpenTelemetry reader stays registered for good, so the storage stays bound: a clear error, not OTel's."""
    storage = MemoryMetricsStorage()
    collector = MetricsCollector(storage=storage)
    collector.shutdown()
    del collector
    gc.collect()
    with pytest.raises(ValueError, match=r"already served another MetricsCollector.*new MemoryMetricsStorage"):
        MetricsCollector(storage=storage)


class _Slotted(MetricsStorage):
    """A user's storage with __slots__, a __getattr__ that answers everything, and a frozen __setattr__."""

    __slots__ = ("_reader",)

    def __init__(self) -> None:
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        object.__setattr__(self, "_reader", InMemoryMetricReader())

    def __getattr__(self, name: str) -> Any:
        return f"magic {name}"

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"frozen: {name}")

    def __eq__(self, other: object) -> bool:  # unhashable (no __hash__): the library must not need hashing
        return isinstance(other, _Slotted)

    __hash__ = None  # type: ignore[assignment]

    def readers(self) -> Sequence[MetricReader]:
        return (self._reader,)

    def store(self, timeout: float) -> Result[int, str]:
        return Success(0)


def test_a_user_storage_with_slots_getattr_frozen_setattr_and_no_hash_is_claimed_once() -> None:
    """claim does not depend on the subclass's attribute hooks: the first collector gets it, a second is refused,
    and two equal (but distinct) user storages are not mistaken for one."""
    storage, twin = _Slotted(), _Slotted()
    assert not storage.claimed
    with MetricsCollector(storage=[storage, twin]) as collector:
        assert storage.claimed and twin.claimed
        with pytest.raises(ValueError, match="new _Slotted"):
            MetricsCollector(storage=storage)
        collector.counter("jobs_total").increment()
        assert collector.collect_and_store_sync().is_success()


def test_a_collector_refused_on_its_second_storage_frees_its_first() -> None:
    """Refused because its second storage is taken, a collector leaves its first storage free for the next one."""
    taken, free = MemoryMetricsStorage(), MemoryMetricsStorage()
    with MetricsCollector(storage=taken):
        with pytest.raises(ValueError, match="already served"):
            MetricsCollector(storage=[free, taken])
        assert not free.claimed
        with MetricsCollector(storage=free) as third:
            third.counter("jobs_total").increment()
            assert _names(free) == ["jobs_total"]


def _race_two_collectors(storage: MemoryMetricsStorage) -> tuple[list[MetricsCollector], list[BaseException]]:
    """Two threads build a collector on ``storage`` at the same moment: (those built, errors raised)."""
    barrier = threading.Barrier(2)
    won: list[MetricsCollector] = []
    errors: list[BaseException] = []

    def build() -> None:
        barrier.wait(timeout=10)
        try:
            won.append(MetricsCollector(storage=storage))
        except BaseException as error:
            errors.append(error)

    _run([threading.Thread(target=build) for _ in range(2)])
    return won, errors


def test_threads_racing_two_collectors_onto_one_storage_leave_exactly_one_owner() -> None:
    """Two collectors built at once on one storage: one wins, the other gets the ValueError (never OpenTelemetry's
    error, never both), and the winner's storage still collects."""
    with _fast_switching():
        for _ in range(60):
            storage = MemoryMetricsStorage()
            won, errors = _race_two_collectors(storage)
            assert len(won) == 1 and len(errors) == 1, (won, errors)
            assert isinstance(errors[0], ValueError) and "already served" in str(errors[0])
            assert storage.claimed
            won[0].counter("jobs_total").increment()
            assert _names(storage) == ["jobs_total"]
            won[0].shutdown()
