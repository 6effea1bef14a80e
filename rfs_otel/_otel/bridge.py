"""The one module that builds OpenTelemetry SDK objects: provider, meter, readers, views, and the bridge.

The bridge plays the OTel specification's *MetricProducer*: it wraps each reader's collect callback
and appends the facade's state — genuine ``Sum``/``Gauge``/``Histogram`` metrics of OTel data points —
to what the SDK collected, applying matching Views (name, description, attribute keys, bucket
boundaries, drop) itself. Nothing is kept per series inside the SDK, so the facade's series state is
the only copy (memory below the raw SDK's) and the facade's series limit is the only one that folds.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import Exemplar, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricReader,
    MetricsData,
    NumberDataPoint,
)
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from .._engine.family import Family
from .._engine.layout import HistogramSnapshot
from .._engine.source import LocalSource, Source, records
from .._errors import MetricError
from .._model.records import Metric as Record
from .._model.records import MetricType
from .._model.validation import check_attributes
from .._util.fork import Reinitialisable, after_fork_in_child, at_exit, reinit
from . import compat
from . import views as _views
from .compat import PROBES
from .expo_points import DeltaState, expo_metrics
from .points import Stream, filtered, number_data, quantile_metrics
from .readers import in_memory_reader, periodic_reader, prometheus_reader
from .resource import with_shared_instance_id
from .scopes import with_scopes
from .summary import summary_metric
from .views import SCOPE, Target

__all__ = [
    "SCOPE",
    "LocalSource",
    "SdkBridge",
    "Source",
    "in_memory_reader",
    "periodic_reader",
    "prometheus_reader",
]


class SdkBridge:
    """Connects a collector's families to a MeterProvider and its readers."""

    def __init__(
        self,
        readers: Sequence[MetricReader],
        meter_provider: MeterProvider | None,
        views: Sequence[View],
        resource: Resource | None,
        reap: Callable[[], None],
        source: Source | None = None,
    ) -> None:
        self._views = tuple(views)
        self._reap = reap
        self._families: list[Family] = []
        self._lock = threading.Lock()
        self._delta_state: dict[int, dict[tuple[str, tuple[tuple[str, str], ...]], tuple[list[int], float, int]]] = {}
        self._expo_delta: dict[int, DeltaState] = {}
        self._active = True
        self._closing = False
        self._pid = os.getpid()
        #: The collector shutting this bridge down at exit, if any (weak: the bridge must not keep it alive).
        self.owner: weakref.ref[Any] | None = None
        self._collecting = threading.RLock()
        from .direct_state import DirectState  # what a direct Prometheus scrape needs (prom_direct)

        self.direct = DirectState(self, readers, self._families)
        #: Where exported values come from: this process's series, or (multiprocess) every worker's.
        self.source: Source = source or LocalSource()
        self._explicit_resource = resource is not None
        #: Multiprocess: the one resource every worker exports (the SDK's per-fork resource is overridden).
        self._pinned: Resource | None = None
        if meter_provider is None:
            # No SDK atexit hook: it would keep this provider (and through it the collector's series) alive
            # forever; the collector's own weakly held exit hook shuts the provider down instead.
            resource = resource or Resource.create()
            check_attributes("resource", resource.attributes)
            self.provider = MeterProvider(
                metric_readers=list(readers), views=list(views), resource=resource, shutdown_on_exit=False
            )
            self.owns_provider = True
            bridged = list(readers)
        else:
            if views:
                raise MetricError(
                    "views= applies only to a MeterProvider rfs_otel creates; "
                    "pass views to your own MeterProvider(views=...) instead"
                )
            if resource is not None:
                raise MetricError("resource= applies only to a MeterProvider rfs_otel creates")
            check_attributes("resource", compat.provider_resource(meter_provider).attributes)
            self.provider = meter_provider
            self.owns_provider = False
            bridged = compat.provider_readers(meter_provider)  # the service's own readers
        self._own_readers = list(readers)
        self._bridged = list(dict.fromkeys(bridged))
        self._targets = [Target(self.provider)]
        self._hook(self._targets[0])
        if not self.owns_provider:
            for reader in readers:  # through the hooked consumer: these readers get the bridge too
                self.provider.add_metric_reader(reader)
                self._bridged.append(reader)
        after_fork_in_child(self, "_after_fork")
        if self.owns_provider:
            at_exit(self, _shutdown_provider_at_exit)

    # -- fork safety --------------------------------------------------------------------------

    def fork_locks(self) -> list[Reinitialisable]:
        """The short lock the owning collector holds while the process forks."""
        return [self._lock]

    def _after_fork(self) -> None:
        """In a forked child: unlock the bridge's and the SDK's locks (a parent thread may have been collecting)."""
        self._pid = os.getpid()
        reinit(self._lock)
        reinit(self._collecting)
        compat.reinit_sdk_locks(self.provider, self._bridged)

    # -- registration -------------------------------------------------------------------------

    def register(self, family: Family) -> None:
        """Expose a new family to OTel: the bridge emits its points at every collection."""
        with self._lock:
            self._families.append(family)

    def view_buckets(self, name: str, unit: str, description: str, scope: Any = None) -> tuple[float, ...] | None:
        """Bucket bounds a matching View's ExplicitBucketHistogramAggregation imposes, if any."""
        for target in list(self._targets):
            bounds = _views.view_buckets(target.views, _views.as_scope(scope), name, unit, description)
            if bounds is not None:
                return bounds
        return None

    def view_exponential(self, name: str, unit: str, description: str, scope: Any = None) -> tuple[int, int] | None:
        """``(max_size, max_scale)`` a matching View's ExponentialBucketHistogramAggregation asks for, if any."""
        for target in list(self._targets):
            found = _views.view_exponential(target.views, _views.as_scope(scope), name, unit, description)
            if found is not None:
                return found
        return None

    def streams(
        self, name: str, unit: str, description: str, kind: MetricType = MetricType.HISTOGRAM, scope: Any = None
    ) -> tuple[Stream, ...]:
        """The streams the main provider's Views make of a family (the family itself when no View matches)."""
        return _views.streams(self._targets[0].views, _views.as_scope(scope), name, unit, description, kind)

    def share_resource(self, directory: Path) -> None:
        """Multiprocess: export one resource, with a ``service.instance.id`` every worker of ``directory`` shares."""
        if self.owns_provider and not self._explicit_resource:
            self._pinned = with_shared_instance_id(self._targets[0].resource, directory)

    # -- providers joined later ---------------------------------------------------------------

    def attach(self, provider: MeterProvider) -> None:
        """Feed ``provider``'s readers too (present and added later), under its Views and resource."""
        with self._lock:
            if any(target.provider is provider for target in self._targets):
                return
            target = Target(provider)
            self._targets.append(target)
        self._hook(target)

    def detach(self, provider: MeterProvider) -> None:
        """Stop feeding a provider ``attach`` joined (its readers then collect only the SDK's own metrics)."""
        with self._lock:
            for target in self._targets[1:]:
                if target.provider is provider:
                    target.active = False
                    self._targets.remove(target)

    # -- the producer -------------------------------------------------------------------------

    def _hook(self, target: Target) -> None:
        """Wrap the collect callback of ``target``'s readers, and of every reader added to it later."""
        bridge = self

        def wrap(inner: compat.Collect) -> compat.Collect:
            def collect(r: MetricReader, timeout_millis: float = 10_000) -> MetricsData | None:
                if not (bridge._active and target.active):
                    return inner(r, timeout_millis=timeout_millis)
                with bridge.collecting():
                    data = inner(r, timeout_millis=timeout_millis)
                    return bridge._merge(data, r, target)

            return collect

        for reader in compat.provider_readers(target.provider):
            compat.wrap_collect(reader, wrap)
        compat.wrap_consumer_collect(target.provider, wrap)

    @contextlib.contextmanager
    def collecting(self) -> Iterator[Source]:
        """One collection: ended threads folded, the source prepared, and other collections kept out meanwhile."""
        with self.direct.collection(self._reap, self._collecting, self.source) as source:
            yield source

    def records(self, timestamp: float, totals: bool = False) -> list[Record]:
        """One ``Metric`` record per series of the exported families, read as a collection would read them."""
        with self.collecting() as source:
            with self._lock:
                families = list(self._families)
            return records(source, families, timestamp, totals)

    def _merge(self, data: MetricsData | None, reader: MetricReader, target: Target) -> MetricsData | None:
        scoped = self.produce_scoped(reader, target)
        if not scoped and self.direct.skipping():  # families a direct scrape renders still count (target_info)
            scoped = {SCOPE: []}
        pinned = self._pinned if target is self._targets[0] else None
        return with_scopes(data, scoped, pinned or target.resource, pinned) if scoped else data

    def produce(self, reader: MetricReader | None = None, target: Target | None = None) -> list[Metric]:
        """OTel metrics of every family under ``target``'s Views, cumulative unless ``reader`` wants delta."""
        return [metric for produced in self.produce_scoped(reader, target).values() for metric in produced]

    def produce_scoped(
        self, reader: MetricReader | None = None, target: Target | None = None
    ) -> dict[InstrumentationScope, list[Metric]]:
        """``produce``'s metrics grouped by the instrumentation scope of their family (rfs_otel's or a meter's)."""
        delta = compat.prefers_delta(reader, PROBES[MetricType.HISTOGRAM][0])
        now = time.time_ns()
        scoped: dict[InstrumentationScope, list[Metric]] = {}
        target = target or self._targets[0]
        with self._lock:
            families = self.direct.kept(self._families) if target is self._targets[0] else list(self._families)
        for family in families:
            out = scoped.setdefault(_views.scope_of(family), [])
            streams = target.streams_of(family)
            if family.exponential is not None:
                state = self._expo_delta.setdefault(id(reader), {}) if delta else None
                out.extend(expo_metrics(family, streams, self.source.distributions(family), now, state, reader))
                continue
            if family.kind in (MetricType.COUNTER, MetricType.GAUGE):
                out.extend(self._number_metrics(family, streams, now, reader))
                continue
            snapshots = self.source.distributions(family)
            stats = self.source.statistics(family) if family.kind is MetricType.SUMMARY else []
            if family.kind is MetricType.SUMMARY and family.summary_export == "summary":
                out.extend(summary_metric(family, stream, stats, snapshots, now) for stream in streams)
                continue
            for stream in streams:
                points = self._histogram_points(family, stream, snapshots, now, reader if delta else None)
                temporality = AggregationTemporality.DELTA if delta else AggregationTemporality.CUMULATIVE
                out.append(Metric(stream.name, stream.description, family.unit, Histogram(points, temporality)))
                if family.kind is MetricType.SUMMARY:
                    out.extend(quantile_metrics(family, stream, stats, now))
        return {scope: metrics for scope, metrics in scoped.items() if metrics}

    def _number_metrics(
        self, family: Family, streams: tuple[Stream, ...], now: int, reader: MetricReader | None
    ) -> list[Metric]:
        """Sum (counters) or Gauge (gauges) metrics; label sets a View merges are summed (gauges: last wins)."""
        counter = family.kind is MetricType.COUNTER
        delta = counter and compat.prefers_delta(reader, PROBES[MetricType.COUNTER][0])
        state = self._delta_state.setdefault(id(reader), {}) if delta else None
        values = self.source.values(family)
        out = []
        for stream in streams:
            if stream.attribute_keys is None and state is None:  # the common case: one point per series as is
                start_of = family.start_of
                points = [NumberDataPoint(a, start_of(a), now, value) for a, value in values]
                out.append(Metric(stream.name, stream.description, family.unit, number_data(counter, points, False)))
                continue
            merged: dict[tuple[tuple[str, Any], ...], float] = {}
            for attributes, value in values:
                key = tuple(sorted(filtered(attributes, stream.attribute_keys).items()))
                merged[key] = merged.get(key, 0) + value if counter else value
            points = []
            for key, total in merged.items():
                start, value = family.start_of(dict(key)), total
                if state is not None:
                    previous = state.get((stream.name, key)) or ([], 0.0, start)  # across a restart: total dropped
                    state[(stream.name, key)] = ([], total, now)
                    if previous[2] > start and total >= previous[1]:
                        value, start = total - previous[1], previous[2]
                points.append(NumberDataPoint(dict(key), start, now, value))
            out.append(Metric(stream.name, stream.description, family.unit, number_data(counter, points, delta)))
        return out

    def _histogram_points(
        self,
        family: Family,
        stream: Stream,
        snapshots: list[tuple[dict[str, Any], HistogramSnapshot, dict[int, Any] | None]],
        now: int,
        delta_reader: MetricReader | None,
    ) -> list[HistogramDataPoint]:
        merged: dict[tuple[tuple[str, str], ...], list[Any]] = {}
        exemplars_by_key = {
            tuple(sorted(attributes.items())): [
                Exemplar({}, value, at, span_id, trace_id) for value, at, trace_id, span_id in found.values()
            ]
            for attributes, _, found in snapshots
            if found
        }
        bounds = family.bounds
        if stream.bounds is not None and stream.bounds != tuple(family.bounds):
            if _views.rebucket([0] * (len(family.bounds) + 1), family.bounds, stream.bounds) is not None:
                bounds = stream.bounds
            else:
                _views.warn_bounds(family.name, family.bounds, stream.bounds)
        if stream.exponential is not None:
            _views.warn_layout(family.name, False)
        for attributes, snap, _ in snapshots:
            attrs = filtered(attributes, stream.attribute_keys)
            key = tuple(sorted(attrs.items()))
            counts = _views.rebucket(snap.counts, family.bounds, bounds) or list(snap.counts)
            acc = merged.get(key)
            if acc is None:
                merged[key] = [counts, snap.sum, snap.min, snap.max]
            else:
                acc[0] = [a + b for a, b in zip(acc[0], counts)]
                acc[1] += snap.sum
                acc[2] = min(acc[2], snap.min)
                acc[3] = max(acc[3], snap.max)
        points = []
        state = self._delta_state.setdefault(id(delta_reader), {}) if delta_reader is not None else None
        for key, (cumulative_counts, cumulative_sum, low, high) in merged.items():
            start, counts, total = family.start_of(dict(key)), cumulative_counts, cumulative_sum
            if state is not None:
                previous = state.get((stream.name, key)) or ([], 0.0, start)  # across a restart: counts dropped
                state[(stream.name, key)] = (cumulative_counts, cumulative_sum, now)
                if previous[2] > start and all(c >= p for c, p in zip(cumulative_counts, previous[0])):
                    counts = [c - p for c, p in zip(cumulative_counts, previous[0])]
                    total = cumulative_sum - previous[1]
                    start = previous[2]
            empty = not any(counts)
            exemplars = exemplars_by_key.get(key, ()) if stream.attribute_keys is None else ()
            points.append(
                HistogramDataPoint(
                    attributes=dict(key),
                    start_time_unix_nano=start,
                    time_unix_nano=now,
                    count=sum(counts),
                    sum=total,
                    bucket_counts=counts,
                    explicit_bounds=bounds,
                    min=0.0 if empty or not math.isfinite(low) else low,
                    max=0.0 if empty or not math.isfinite(high) else high,
                    exemplars=exemplars,
                )
            )
        return points

    # -- lifecycle ----------------------------------------------------------------------------

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        """Shut down the provider if owned; otherwise detach this collector's readers and producer; idempotent."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            joined = self._targets[1:]
        for target in joined:  # the app's providers this collector joined get its last values before it stops
            with contextlib.suppress(Exception):
                target.provider.force_flush(timeout_millis=timeout_millis)
        if self.owns_provider:
            self.provider.shutdown(timeout_millis=timeout_millis)  # periodic readers export a last time
            self._active = False
            return
        for reader in self._own_readers:
            # Shut down (a periodic reader exports a last time) while still registered, then detach.
            with contextlib.suppress(Exception):
                reader.shutdown(timeout_millis=timeout_millis)
            compat.detach_reader(self.provider, reader)
        self._active = False


def _shutdown_provider_at_exit(ref: weakref.ref[SdkBridge]) -> None:
    """At exit: shut down (and so flush) the provider of a bridge whose collector was dropped unshut."""
    bridge = ref()
    if bridge is None or bridge._pid != os.getpid() or (bridge.owner is not None and bridge.owner() is not None):
        return  # gone, inherited from the parent, or its live collector's own exit hook does it
    bridge.shutdown()
