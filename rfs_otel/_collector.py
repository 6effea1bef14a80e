"""``MetricsCollector``: creates and reuses series, and hands their state to the storages' OTel readers."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource

from ._engine.backend import CellBackend
from ._engine.cells import ThreadCells
from ._engine.factories import Instruments, Meter, check_scope
from ._engine.family import DEFAULT_CARDINALITY_LIMIT
from ._engine.filters import MetricFilter
from ._engine.registry import Registry, check_options
from ._engine.samples import sample_value
from ._engine.view import MetricFamily
from ._model.records import Metric
from ._otel.bridge import SdkBridge
from ._otel.system import disable_system_metrics, enable_system_metrics
from ._result import Failure, Result
from ._storages.base import MetricsStorage
from ._storages.delivery import Delivery, outcome
from ._storages.listing import storage_list as _storages
from ._util.background import in_daemon_thread
from ._util.fork import Reinitialisable, after_fork_in_child, at_exit, hold_across_fork, reinit

__all__ = ["MetricsCollector"]

Labels = Mapping[str, object]


class MetricsCollector(Instruments):
    """Creates the RFS instruments and exports them through OpenTelemetry to every storage.

    Owns its own ``MeterProvider`` (the global one is never touched) unless ``meter_provider=``
    attaches it to one the service already has. ``series_ttl=`` expires idle series; ``strict=True`` turns
    naming and unbounded-label warnings into errors.
    """

    def __init__(
        self,
        storage: MetricsStorage | Iterable[MetricsStorage] | None = None,
        meter_provider: MeterProvider | None = None,
        views: Sequence[View] = (),
        resource: Resource | None = None,
        *,
        clock: Callable[[], float] | None = None,
        export_timeout: float = 30.0,
        cardinality_limit: int = DEFAULT_CARDINALITY_LIMIT,
        multiprocess_dir: str | os.PathLike[str] | None = None,
        filters: Sequence[MetricFilter] = (),
        series_ttl: float | None = None,
        strict: bool = False,
    ) -> None:
        check_options(cardinality_limit, filters, series_ttl)
        self._storages = _storages(storage)
        self._clock: Callable[[], float] = clock or time.monotonic
        self._export_timeout = export_timeout
        self.multiprocess_dir = Path(multiprocess_dir) if multiprocess_dir is not None else None
        backend: CellBackend
        if self.multiprocess_dir is None:
            backend = ThreadCells()
        else:  # pre-fork mode's modules are imported only here (about 0.5 MB of RSS otherwise)
            from .multiprocess._series import SharedBackend

            backend = SharedBackend(self.multiprocess_dir)
        self._backend = backend
        self._lock = threading.Lock()
        self._delivery = Delivery(self._storages)
        self._closed = False
        self._closing = False
        self._pid = os.getpid()
        self.system_metrics_enabled = False
        registries: list[Registry] = []

        def reap() -> None:  # at each collection: ended threads folded, idle series expired
            backend.reap()
            for registry in registries:
                registry.sweep()

        try:  # a storage serves one collector: claimed first, so a second one gets a clear error, not OTel's
            for claimed in self._storages:
                claimed.claim(self)
            readers = [reader for s in self._storages for reader in s.readers()]
            self._bridge = SdkBridge(readers, meter_provider, views, resource, reap)
        except BaseException:
            for claimed in self._storages:
                claimed.unclaim(self)
            raise
        self._bridge.owner = weakref.ref(self)
        limit, ttl = cardinality_limit, series_ttl
        self._registry = Registry(backend, self._bridge, self._clock, limit, filters, ttl, strict)
        registries.append(self._registry)
        if self.multiprocess_dir is not None:
            from .multiprocess._source import SharedSource

            self._bridge.source = SharedSource(self.multiprocess_dir, self._registry)
            self._bridge.share_resource(self.multiprocess_dir)
        # Process-wide hooks hold the collector weakly: dropping it lets it be garbage-collected.
        hold_across_fork(self, "_fork_locks")
        after_fork_in_child(self, "_after_fork")
        at_exit(self, _shutdown_at_exit)
        for owned in self._storages:
            owned.attach(self)

    # -- instruments (counter, gauge, histogram, summary, timer: see Instruments) ----------------

    def meter(self, name: str, version: str | None = None, schema_url: str | None = None) -> Meter:
        """The instrument factories of one library, exported under its own instrumentation scope."""
        check_scope(name, version, schema_url)
        return Meter(self._registry, name, version, schema_url)

    def remove(self, name: str, labels: Labels | None = None) -> bool:
        """Stop exporting the series ``name{labels}`` (False if there is none); used again, it starts a new stream."""
        family = self._registry.get(name)
        return family is not None and family.remove(labels)

    def clear(self, name: str) -> int:
        """Remove every series of the metric ``name``; returns how many were removed."""
        family = self._registry.get(name)
        return 0 if family is None else family.clear()

    def cardinality_report(self, top: int = 3) -> list[dict[str, Any]]:
        """Series per metric (most first), its limit, whether it overflowed, and the labels with most values."""
        return self._registry.cardinality_report(top)

    def _fork_locks(self) -> list[Reinitialisable]:
        """The short locks held across a fork, in the order the code nests them, so the child's copy is whole."""
        return [*self._registry.fork_locks(), self._lock, *self._bridge.fork_locks(), *self._backend.fork_locks()]

    def _after_fork(self) -> None:
        """In a forked child: unlock everything, so a lock another parent thread held at fork time cannot deadlock."""
        self._pid = os.getpid()
        reinit(self._lock)
        self._registry.after_fork()

    def thread_slot_count(self) -> int:
        """Per-thread cell lists held now (diagnostics: lists of ended threads are folded at each collection)."""
        return self._backend.thread_count()

    # -- reading ------------------------------------------------------------------------------

    def families(self) -> list[MetricFamily]:
        """Read-only views of the registered, exported metrics (filters' denied ones left out)."""
        return [MetricFamily(f) for f in self._registry.exported()]

    def series_count(self) -> int:
        """Number of series across all metrics."""
        return self._registry.series_count()

    def snapshot(self) -> list[Metric]:
        """One ``Metric`` record per series, read now (synchronous form of ``get_all_metrics``).

        Read as an export reads them: in multiprocess mode the records sum every worker.
        """
        return self._bridge.records(time.time())

    def get_sample_value(self, name: str, labels: Labels | None = None) -> float | None:
        """The exported sample ``name{labels}`` (``x_total``, ``h_bucket{le}``...) or None; creates none."""
        legacy = {f.name for f in self._registry.exported() if f.summary_export != "summary"}  # _pNN gauges
        return sample_value(self._bridge.records(time.time(), totals=True), name, labels, frozenset(legacy))

    async def get_all_metrics(self) -> list[Metric]:
        """One ``Metric`` record per series, as the RFS API returns them."""
        return self.snapshot()

    # -- exporting ----------------------------------------------------------------------------

    @property
    def storages(self) -> tuple[MetricsStorage, ...]:
        return tuple(self._storages)

    @property
    def meter_provider(self) -> MeterProvider:
        return self._bridge.provider

    def join_meter_provider(self, provider: MeterProvider) -> None:
        """Also feed ``provider``'s readers (present and added later) under its Views (the default collector's
        binding to the application's OTel)."""
        self._bridge.attach(provider)

    def leave_meter_provider(self, provider: MeterProvider) -> None:
        """Stop feeding a provider ``join_meter_provider`` joined."""
        self._bridge.detach(provider)

    @property
    def export_timeout(self) -> float:
        """Seconds one ``collect_and_store`` (and the shutdown flush) may take in total."""
        return self._export_timeout

    def collect_and_store_sync(self) -> Result[int, str]:
        """Collect once and deliver to every storage; blocking. ``Success(series)`` or ``Failure(why)``.

        Returns within ``export_timeout`` (each storage gets what is left of it, local storages first);
        a storage still busy with an earlier export is skipped and named in the Failure.
        """
        if self._closed:
            return Failure("collector is shut down; create a new MetricsCollector")
        return self._store(self._storages, self._export_timeout)

    def _store(self, storages: Sequence[MetricsStorage], seconds: float, *, wait: bool = False) -> Result[int, str]:
        failures = self._delivery.deliver(storages, seconds, wait=wait)
        return outcome(failures, self.series_count())

    async def collect_and_store(self, timeout: float | None = None) -> Result[int, str]:
        """Collect once and deliver to every storage, off the event loop; never raises for a storage fault.

        Returns a Failure after ``timeout`` seconds (default ``export_timeout``) even if a storage hangs;
        the blocking work then finishes in its worker thread, and the event loop is never held up.
        """
        limit = self._export_timeout if timeout is None else timeout
        finished, result = await in_daemon_thread(self.collect_and_store_sync, limit, "rfs-otel-export")
        if finished and result is not None:
            return result
        return Failure(f"collect_and_store did not finish within {limit:g} s (a storage is not answering)")

    def enable_system_metrics(self, config: Mapping[str, list[str] | None] | None = None) -> None:
        """Record CPU, memory, disk and network I/O, threads, file descriptors (OTel system-metrics, psutil).

        Uses ``opentelemetry-instrumentation-system-metrics`` (extra ``system``) with its semantic-convention
        names (``process.cpu.utilization``, ``system.memory.usage``, ...). It is process-wide: one collector
        at a time; ``shutdown()`` turns it off again.
        """
        enable_system_metrics(self.meter_provider, config, self.system_metrics_enabled)
        self.system_metrics_enabled = True

    def shutdown(self) -> None:
        """Deliver a last collection to push-style storages, then release everything; idempotent.

        Bounded: the last delivery gets ``export_timeout`` (waiting for an in-flight export within it), the
        provider's shutdown (periodic readers' last export) another ``export_timeout``, then the storages
        release what they hold. Safe from several threads; also run at interpreter exit.
        """
        with self._lock:
            if self._closed or self._closing:
                return
            self._closing = True
        try:
            if self.system_metrics_enabled:
                disable_system_metrics()
                self.system_metrics_enabled = False
            flush = [s for s in self._storages if s.flush_on_shutdown]
            if flush:
                self._store(flush, self._export_timeout, wait=True)
        finally:
            self._closed = True
            try:
                self._bridge.shutdown(timeout_millis=self._export_timeout * 1000)
            finally:
                for storage in self._storages:
                    with contextlib.suppress(Exception):  # one storage's fault must not keep the others open
                        storage.shutdown()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> MetricsCollector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<MetricsCollector storages={self._storages!r} series={self.series_count()}>"


def _shutdown_at_exit(ref: weakref.ref[MetricsCollector]) -> None:
    """At interpreter exit: flush and release a collector nobody shut down, in bounded time.

    Runs in the exiting thread (Python 3.12+ refuses new threads at exit); the bound comes from the
    storages' deadline-bounded I/O and from skipping a storage another thread is stuck in.
    """
    collector = ref()
    if collector is None or collector.closed or collector._pid != os.getpid():
        return
    with contextlib.suppress(Exception):  # nothing may escape into the interpreter's exit
        collector.shutdown()
