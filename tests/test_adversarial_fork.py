"""Never hurt the host: forking while other threads collect, and collectors that are dropped.

Every fork test forks a multi-threaded process on purpose (that is the scenario under test), so the
Python 3.12+ DeprecationWarning "This process is multi-threaded, use of fork() may lead to deadlocks in
the child" is expected there and filtered. Each child runs under ``signal.alarm`` and the parent waits
with a deadline and kills stragglers, so a deadlock is a test failure, never a hang.
"""

from __future__ import annotations

import atexit
import gc
import http.client
import logging
import os
import signal
import socket
import threading
import time
import urllib.request
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics.export import MetricReader

from rfs_otel import (
    FileMetricsStorage,
    MemoryMetricsStorage,
    MetricsCollector,
    MetricsStorage,
    OTLPStorage,
    PrometheusStorage,
    Result,
    get_metrics_collector,
    record_counter,
    set_metrics_collector,
)
from rfs_otel._util.fork import FORK_LOCK_BUDGET, hook_counts
from rfs_otel.testing import skip_shutdown_flush

from .forking import CHILD_ALARM, run_child

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    # These tests fork a multi-threaded process deliberately: that is the scenario under test.
    pytest.mark.filterwarnings("ignore:This process .*is multi-threaded:DeprecationWarning"),
]

FORKS = 100
BATCH = 20  # children alive at once
DEADLOCKED = -1

#: Starts two threads looping a collection action until the test ends.
Busy = Callable[[Callable[[], object]], None]


def _reap(pids: list[int], deadline: float) -> list[int]:
    """Exit statuses of ``pids``; a child still running at ``deadline`` is killed and reported as DEADLOCKED."""
    statuses = []
    for pid in pids:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                statuses.append(os.waitstatus_to_exitcode(status))
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                statuses.append(DEADLOCKED)
                break
            time.sleep(0.005)
    return statuses


def _fork_many(body: Callable[[], bool], forks: int = FORKS) -> list[int]:
    """Fork ``forks`` children running ``body``, ``BATCH`` at a time; their exit statuses."""
    statuses: list[int] = []
    # The parent's heap (large late in a full run) is frozen out of the collector, as prefork servers do: else
    # every child's first full collection writes to every page of it, copying them all, 20 children at a time.
    gc.freeze()
    try:
        for start in range(0, forks, BATCH):
            pids = []
            for _ in range(min(BATCH, forks - start)):
                pid = os.fork()
                if pid == 0:
                    run_child(body)
                pids.append(pid)
            statuses += _reap(pids, time.monotonic() + CHILD_ALARM + 5)
    finally:
        gc.unfreeze()
    return statuses


@pytest.fixture
def busy() -> Iterator[Busy]:
    """Start two threads looping a collection action (and increments) until the test ends."""
    stop = threading.Event()
    threads: list[threading.Thread] = []
    started = threading.Barrier(3)

    def start(action: Callable[[], object]) -> None:
        def loop() -> None:
            started.wait()
            while not stop.is_set():
                action()

        for _ in range(2):
            threads.append(threading.Thread(target=loop, daemon=True))
            threads[-1].start()
        started.wait(timeout=5)

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=10)


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A local port bound but never listening: connections are refused and nobody else can take it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _exercise(collector: MetricsCollector, busy: Busy) -> None:
    counter = collector.counter("forked_total")
    histogram = collector.histogram("forked_seconds")
    gauge = collector.gauge("forked_gauge")

    def collect() -> None:
        counter.increment()
        histogram.observe(0.01)
        gauge.set(1, labels={"k": "v"})
        collector.collect_and_store_sync()

    collect()  # warm up: first-time imports done before any fork (a half-done import cannot be reset)
    busy(collect)


def test_fork_during_memory_collection_never_deadlocks_the_child(busy: Busy) -> None:
    """100 children forked while two threads collect into memory all increment, collect and exit."""
    memory = MemoryMetricsStorage()
    with MetricsCollector(storage=memory) as collector:
        _exercise(collector, busy)

        def child() -> bool:
            collector.counter("forked_total").increment()
            collector.gauge("forked_gauge").set(2, labels={"k": "v"})
            return (
                collector.collect_and_store_sync().is_success() and collector.counter("forked_total").get_value() == 1
            )

        statuses = _fork_many(child)
        assert statuses == [0] * FORKS, sorted(set(statuses))


def test_fork_during_prometheus_scrapes_never_deadlocks_the_child(busy: Busy) -> None:
    """100 children forked while two threads scrape /metrics (the OTel Prometheus reader) all export and exit."""
    storage = PrometheusStorage(port=0, dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        counter = collector.counter("forked_total")
        url = storage.url
        assert url is not None

        def scrape() -> bytes:
            counter.increment()
            with urllib.request.urlopen(url, timeout=5) as response:
                return bytes(response.read())

        def scrape_on() -> None:
            try:
                scrape()
            except (OSError, http.client.HTTPException):  # reset or cut short when a child exits holding its socket
                pass

        scrape()
        busy(scrape_on)

        def child() -> bool:
            counter.increment()
            return b"forked_total" in storage.exposition() and collector.collect_and_store_sync().is_success()

        statuses = _fork_many(child)
        assert statuses == [0] * FORKS, sorted(set(statuses))
        assert b"forked_total" in scrape()  # the parent's endpoint still serves


def test_fork_during_file_export_never_deadlocks_the_child(busy: Busy, tmp_path: Path) -> None:
    """100 children forked while two threads export to a file all export (to their own file) and exit."""
    with MetricsCollector(storage=FileMetricsStorage(tmp_path / "parent.jsonl")) as collector:
        _exercise(collector, busy)

        def child() -> bool:
            collector.counter("forked_total").increment()
            return collector.collect_and_store_sync().is_success()

        statuses = _fork_many(child)
        assert statuses == [0] * FORKS, sorted(set(statuses))


@pytest.fixture
def quiet_otlp_exporter() -> Iterator[None]:
    """Silence the OTLP exporter's error log: a parent thread writing to stderr at fork time holds the stream's
    own buffer lock, which no library can reset (CPython's io objects have no fork hook)."""
    logger = logging.getLogger("opentelemetry.exporter")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    yield
    logger.setLevel(level)


@pytest.mark.usefixtures("quiet_otlp_exporter")
def test_fork_during_otlp_export_never_deadlocks_the_child(busy: Busy, refused_port: int) -> None:
    """100 children forked while two threads export over OTLP/HTTP (nobody listening) get a Failure and exit."""
    storage = OTLPStorage(f"http://127.0.0.1:{refused_port}/v1/metrics", protocol="http/protobuf", timeout=0.2)
    with MetricsCollector(storage=storage, export_timeout=0.2) as collector:
        _exercise(collector, busy)

        def child() -> bool:
            collector.counter("forked_total").increment()
            result = collector.collect_and_store_sync()
            return result.is_failure() and str(refused_port) in result.unwrap_err()

        statuses = _fork_many(child)
        assert statuses == [0] * FORKS, sorted(set(statuses))


def test_fork_during_default_collector_use_never_deadlocks_the_child(busy: Busy) -> None:
    """100 children forked while two threads record through the default collector can use it too."""
    set_metrics_collector(MetricsCollector())

    def record() -> None:
        record_counter("default_total")
        get_metrics_collector().collect_and_store_sync()

    record()
    busy(record)

    def child() -> bool:
        record_counter("default_total")
        return get_metrics_collector().counter("default_total").get_value() == 1

    assert _fork_many(child) == [0] * FORKS


class _BlockingStorage(MetricsStorage):
    """A storage whose delivery blocks until released: a thread inside it holds the collector's export lock."""

    def __init__(self) -> None:
        self._memory = MemoryMetricsStorage()
        self.inside = threading.Event()
        self.release = threading.Event()
        self.block = True

    def readers(self) -> Sequence[MetricReader]:
        return self._memory.readers()

    def store(self, timeout: float) -> Result[int, str]:
        if self.block:
            self.inside.set()
            self.release.wait(10)
        return self._memory.store(timeout)


def test_child_of_a_fork_during_a_blocked_export_can_export() -> None:
    """A fork while another thread is stuck exporting (export lock held) leaves the child free to export."""
    storage = _BlockingStorage()
    with MetricsCollector(storage=storage) as collector:
        collector.counter("c_total").increment()
        exporter = threading.Thread(target=collector.collect_and_store_sync)
        exporter.start()
        assert storage.inside.wait(5)

        def child() -> bool:
            storage.block = False
            return collector.collect_and_store_sync().is_success()

        try:
            assert _fork_many(child, 1) == [0]
        finally:
            storage.release.set()
            exporter.join(10)


def test_child_of_a_fork_inside_an_sdk_collection_can_collect() -> None:
    """A fork while a thread is inside the OTel reader (its reader and consumer locks held) does not hang the child."""
    memory = MemoryMetricsStorage()
    inside, release = threading.Event(), threading.Event()
    in_parent = os.getpid()

    def slow(options: CallbackOptions) -> list[Observation]:
        if os.getpid() == in_parent:
            inside.set()
            release.wait(10)
        return [Observation(1)]

    with MetricsCollector(storage=memory) as collector:
        collector.meter_provider.get_meter("test").create_observable_gauge("slow_gauge", callbacks=[slow])
        collector.counter("c_total").increment()
        reader = threading.Thread(target=memory.collect)
        reader.start()
        assert inside.wait(5)

        def child() -> bool:
            data = memory.collect()
            names = (
                {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
                if data
                else set()
            )
            return {"slow_gauge", "c_total"} <= names

        try:
            assert _fork_many(child, 1) == [0]
        finally:
            release.set()
            reader.join(10)


def test_fork_waits_at_most_the_budget_for_a_busy_lock() -> None:
    """A lock held by another thread delays a fork by at most FORK_LOCK_BUDGET; the child still works."""
    with MetricsCollector() as collector:
        collector.counter("c_total").increment()
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            with collector._lock:
                held.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        assert held.wait(5)
        try:
            started = time.monotonic()
            statuses = _fork_many(
                lambda: collector.counter("c_total").get_value() == 0 and bool(collector.families()), 1
            )
            assert time.monotonic() - started < FORK_LOCK_BUDGET + CHILD_ALARM / 2
            assert statuses == [0]
        finally:
            release.set()
            holder.join(10)


# -- memory: nothing grows per collector ------------------------------------------------------------


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _churn(count: int, shutdown: bool) -> tuple[int, float, int, dict[str, int]]:
    """Create ``count`` collectors, record once, drop them; (alive afterwards, RSS growth MiB, atexit delta, hooks)."""
    MetricsCollector().shutdown()  # first-time imports and caches before measuring
    gc.collect()
    before_rss, before_atexit = _rss_mib(), atexit._ncallbacks()
    refs = []
    for _ in range(count):
        collector = MetricsCollector()
        collector.counter("churn_total").increment()
        refs.append(weakref.ref(collector))
        if shutdown:
            collector.shutdown()
        del collector
    gc.collect()
    alive = sum(ref() is not None for ref in refs)
    return alive, _rss_mib() - before_rss, atexit._ncallbacks() - before_atexit, hook_counts()


# The OTel SDK registers one at-fork hook per MeterProvider (a closure over a weak method, ~0.9 KiB) that
# os.register_at_fork can never remove; that is the only growth left: ~9 MiB per 10,000 providers.
RSS_BOUND_MIB = 20.0


@pytest.mark.parametrize("shutdown", [False, True], ids=["dropped", "shut-down"])
def test_ten_thousand_collectors_are_garbage_collected(shutdown: bool) -> None:
    """10,000 collectors created and dropped (with or without shutdown) are all collected; nothing piles up."""
    hooks_before = hook_counts()
    alive, growth, atexit_growth, hooks_after = _churn(10_000, shutdown)
    assert alive == 0
    assert growth < RSS_BOUND_MIB, f"RSS grew {growth:.1f} MiB over 10,000 collectors"
    assert atexit_growth == 0
    assert hooks_after["after_fork_in_child"] <= hooks_before["after_fork_in_child"]
    assert hooks_after["hold_across_fork"] <= hooks_before["hold_across_fork"]
    assert hooks_after["at_exit"] <= hooks_before["at_exit"]
    assert hooks_after["registered"] == 2  # one fork hook set and one atexit hook for the whole process


def test_a_live_collector_is_weakly_registered_for_fork_and_exit() -> None:
    """A live collector is reachable from the process hooks, yet only weakly: dropping it unregisters it."""
    gc.collect()
    before = hook_counts()
    collector = MetricsCollector()
    during = hook_counts()
    assert during["at_exit"] >= before["at_exit"] + 1
    assert during["hold_across_fork"] == before["hold_across_fork"] + 1
    ref = weakref.ref(collector)
    del collector
    gc.collect()
    assert ref() is None
    assert hook_counts()["hold_across_fork"] == before["hold_across_fork"]


def test_fork_during_alert_evaluation_and_dashboard_sampling_never_deadlocks_the_child(busy: Busy) -> None:
    """100 children forked while threads evaluate alert rules and sample the dashboard can do both themselves."""
    from rfs_otel import AlertManager, AlertRule, MetricsDashboard, get_alert_manager

    with MetricsCollector() as collector:
        collector.gauge("queue_depth").set(50)
        manager = AlertManager(collector, [AlertRule("deep", "queue_depth", ">", 10)])
        dashboard = MetricsDashboard(collector, alert_manager=manager)
        busy(lambda: (manager.evaluate_once(), dashboard.data(), get_alert_manager()))

        def child() -> bool:
            manager.evaluate_once()
            get_alert_manager()
            return bool(dashboard.data()) and manager.active_alerts()[0].name == "deep"

        statuses = _fork_many(child)
        assert statuses == [0] * FORKS, sorted(set(statuses))


# periodic: the reader thread exists but does not export while the test forks (a fork during a gRPC call is
# grpcio's own abort, see the docstring); 0.05 s made a child abort now and then.
@pytest.mark.parametrize("interval", [None, 60.0], ids=["sync", "periodic"])
def test_a_child_refuses_grpc_exports_instead_of_hanging(refused_port: int, interval: float | None) -> None:
    """grpcio is not fork-safe: children of a process that exported over gRPC fail fast, saying why, never hang.

    (A fork while another thread is *inside* a gRPC call can still make grpcio itself abort the child; that is
    grpcio's limit, documented, and why no parent thread exports here.)
    """
    storage = OTLPStorage(
        endpoint=f"http://127.0.0.1:{refused_port}", protocol="grpc", insecure=True, timeout=1, interval=interval
    )
    with MetricsCollector(storage=storage, export_timeout=2) as collector:
        collector.counter("forked_total").increment()
        assert collector.collect_and_store_sync().is_failure()  # the channel exists and has been used

        def child() -> bool:
            started = time.monotonic()
            result = collector.collect_and_store_sync()
            collector.shutdown()
            return (
                result.is_failure()
                and "refused in a forked child" in result.unwrap_err()
                and time.monotonic() - started < 1.5
            )

        assert _fork_many(child, 20) == [0] * 20
        skip_shutdown_flush(collector)
