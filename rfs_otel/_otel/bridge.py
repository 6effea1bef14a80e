"""The one module that builds OpenTelemetry SDK objects: provider, meter, readers, views, and the bridge.

The bridge plays the OTel specification's *MetricProducer*: it wraps each reader's collect callback
and appends the facade's state — genuine ``Sum``/``Gauge``/``Histogram`` metrics of OTel data points —
to what the SDK collected, applying matching Views (name, description, attribute keys, bucket
boundaries, drop) itself. Nothing is kept per series inside the SDK, so the facade's series state is
the only copy (memory below the raw SDK's) and the facade's series limit is the only one that folds.
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal._view_instrument_match import _ViewInstrumentMatch
from opentelemetry.sdk.metrics._internal.aggregation import _Aggregation
from opentelemetry.sdk.metrics._internal.exemplar import Exemplar
from opentelemetry.sdk.metrics._internal.exemplar.exemplar_reservoir import FixedSizeExemplarReservoirABC
from opentelemetry.sdk.metrics._internal.instrument import (
    _Counter,
    _Gauge,
    _Histogram,
    _ObservableCounter,
    _ObservableGauge,
)
from opentelemetry.sdk.metrics._internal.measurement_consumer import SynchronousMeasurementConsumer
from opentelemetry.sdk.metrics._internal.metric_reader_storage import MetricReaderStorage
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    MetricExporter,
    MetricReader,
    MetricsData,
    NumberDataPoint,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.metrics.view import Aggregation, DropAggregation, ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from .._engine.family import Family
from .._engine.series import HistogramSnapshot, Summary, quantile_key
from .._errors import MetricError
from .._model.records import MetricType
from .._model.validation import check_attributes
from .._util.fork import Reinitialisable, after_fork_in_child, at_exit, reinit
from .._util.optional import require
from .._version import __version__

__all__ = ["SCOPE", "LocalSource", "SdkBridge", "Source", "in_memory_reader", "periodic_reader", "prometheus_reader"]

SCOPE = InstrumentationScope("rfs_otel", __version__)

#: The OTel instrument types a View may name to select a facade metric of each kind.
_PROBES: dict[MetricType, tuple[type, ...]] = {
    MetricType.COUNTER: (_Counter, _ObservableCounter),
    MetricType.GAUGE: (_Gauge, _ObservableGauge),
    MetricType.HISTOGRAM: (_Histogram,),
    MetricType.SUMMARY: (_Histogram,),
}

#: Private SDK attributes the fork hooks reset in a child, each set by its class's ``__init__``: checked
#: below at import, so an SDK release that renames one fails loudly here instead of deadlocking a child.
_SDK_FORK_STATE: dict[type, tuple[str, ...]] = {
    MeterProvider: ("_measurement_consumer",),
    SynchronousMeasurementConsumer: ("_lock", "_reader_storages"),
    MetricReaderStorage: ("_lock", "_instrument_view_instrument_matches"),
    _ViewInstrumentMatch: ("_lock", "_attributes_aggregation"),
    _Aggregation: ("_lock", "_reservoir"),
    FixedSizeExemplarReservoirABC: ("_lock",),
    InMemoryMetricReader: ("_lock",),
    PeriodicExportingMetricReader: ("_export_lock",),
}


def _check_sdk_names() -> None:
    """Fail at import if the installed SDK no longer sets a private attribute this module resets."""
    for cls, names in _SDK_FORK_STATE.items():
        assigned = cls.__init__.__code__.co_names  # type: ignore[misc]
        missing = [name for name in names if name not in assigned]
        if missing:
            raise ImportError(
                f"rfs_otel needs {cls.__module__}.{cls.__qualname__} to set {missing} "
                "(fork safety); this opentelemetry-sdk version is not supported"
            )


_check_sdk_names()


def reinit_sdk_locks(provider: MeterProvider, readers: Sequence[MetricReader]) -> None:
    """In a forked child: unlock every SDK lock a collection or export takes (held by a parent thread at fork)."""
    consumer = getattr(provider, "_measurement_consumer", None)
    if isinstance(consumer, SynchronousMeasurementConsumer):
        reinit(consumer._lock)
        for storage in list(consumer._reader_storages.values()):
            reinit(storage._lock)
            for matches in list(storage._instrument_view_instrument_matches.values()):
                for match in matches:
                    reinit(match._lock)
                    for aggregation in list(match._attributes_aggregation.values()):
                        reinit(aggregation._lock)
                        if isinstance(aggregation._reservoir, FixedSizeExemplarReservoirABC):
                            reinit(aggregation._reservoir._lock)
    for reader in readers:
        if isinstance(reader, InMemoryMetricReader):
            reinit(reader._lock)
        elif isinstance(reader, PeriodicExportingMetricReader):
            reinit(reader._export_lock)
        lock = prometheus_registry_lock(reader)
        if lock is not None:
            reinit(lock)


def prometheus_registry_lock(reader: MetricReader) -> Reinitialisable | None:
    """The lock of the prometheus_client registry an OTel ``PrometheusMetricReader`` fills, if it is one."""
    registry = getattr(reader, "_registry", None)
    lock: Reinitialisable | None = getattr(registry, "_lock", None)
    return lock


def in_memory_reader(
    temporality: dict[type, AggregationTemporality] | None = None,
    aggregation: dict[type, Aggregation] | None = None,
) -> InMemoryMetricReader:
    """An on-demand reader (cumulative unless an exporter prefers otherwise): memory, file and OTLP storages."""
    return InMemoryMetricReader(preferred_temporality=temporality, preferred_aggregation=aggregation)


def prometheus_reader(registry: Any, scope_labels: bool, target_info: bool) -> MetricReader:
    """OTel's Prometheus reader filling ``registry`` (a prometheus_client CollectorRegistry the storage owns)."""
    exporter = require("opentelemetry.exporter.prometheus", "prometheus")
    reader: MetricReader = exporter.PrometheusMetricReader(
        disable_target_info=not target_info, scope_info_enabled=scope_labels, registry=registry
    )
    return reader


def periodic_reader(exporter: MetricExporter, interval: float, timeout: float) -> PeriodicExportingMetricReader:
    """A reader exporting every ``interval`` seconds in a background thread (flushed at shutdown)."""
    return PeriodicExportingMetricReader(
        exporter, export_interval_millis=interval * 1000, export_timeout_millis=timeout * 1000
    )


@dataclass(frozen=True)
class _Stream:
    """One exported stream of a producer-side family, after Views."""

    name: str
    description: str
    attribute_keys: frozenset[str] | None


def _filtered(attributes: dict[str, str], keys: frozenset[str] | None) -> dict[str, str]:
    if keys is None:
        return attributes
    return {k: v for k, v in attributes.items() if k in keys}


def _number_data(counter: bool, points: list[NumberDataPoint], delta: bool) -> Sum | Gauge:
    if not counter:
        return Gauge(points)
    temporality = AggregationTemporality.DELTA if delta else AggregationTemporality.CUMULATIVE
    return Sum(points, temporality, is_monotonic=True)


class LocalSource:
    """Exported values read from this process's series."""

    def begin(self) -> None:
        """Called once at the start of each collection."""

    @staticmethod
    def values(family: Family) -> list[tuple[dict[str, Any], float]]:
        return [(s.attributes, s.get_value()) for s in list(family.series.values())]  # type: ignore[attr-defined]

    @staticmethod
    def distributions(family: Family) -> list[tuple[dict[str, Any], HistogramSnapshot, dict[int, Any] | None]]:
        series = list(family.series.values())
        return [(s.attributes, s.snapshot(), getattr(s, "exemplars", None)) for s in series]  # type: ignore[attr-defined]

    @staticmethod
    def statistics(family: Family) -> list[tuple[dict[str, Any], dict[str, float]]]:
        return [(s.attributes, s.get_statistics()) for s in list(family.series.values()) if isinstance(s, Summary)]


class Source(Protocol):
    """Where the bridge reads exported values from."""

    def begin(self) -> None: ...

    def values(self, family: Family) -> list[tuple[dict[str, Any], float]]: ...

    def distributions(self, family: Family) -> list[tuple[dict[str, Any], HistogramSnapshot, Any]]: ...

    def statistics(self, family: Family) -> list[tuple[dict[str, Any], dict[str, float]]]: ...


class SdkBridge:
    """Connects a collector's families to a MeterProvider and its readers."""

    def __init__(
        self,
        readers: Sequence[MetricReader],
        meter_provider: MeterProvider | None,
        views: Sequence[View],
        resource: Resource | None,
        reap: Callable[[], None],
    ) -> None:
        self._views = tuple(views)
        self._reap = reap
        self._families: list[tuple[Family, tuple[_Stream, ...]]] = []
        self._lock = threading.Lock()
        self._delta_state: dict[int, dict[tuple[str, tuple[tuple[str, str], ...]], tuple[list[int], float, int]]] = {}
        self._active = True
        self._closing = False
        self._pid = os.getpid()
        #: The collector shutting this bridge down at exit, if any (weak: the bridge must not keep it alive).
        self.owner: weakref.ref[Any] | None = None
        self._collecting = threading.RLock()
        #: Where exported values come from: this process's series, or (multiprocess) every worker's.
        self.source: Source = LocalSource()
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
            check_attributes("resource", meter_provider._sdk_config.resource.attributes)
            self.provider = meter_provider
            self.owns_provider = False
            consumer = getattr(meter_provider, "_measurement_consumer", None)
            bridged = list(getattr(consumer, "_reader_storages", ()))  # the service's own readers
            for reader in readers:
                meter_provider.add_metric_reader(reader)
                bridged.append(reader)
        self._resource: Resource = self.provider._sdk_config.resource
        self._own_readers = list(readers)
        self._bridged = list(dict.fromkeys(bridged))
        for reader in self._bridged:
            self._install(reader)
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
        reinit_sdk_locks(self.provider, self._bridged)

    # -- registration -------------------------------------------------------------------------

    def register(self, family: Family) -> None:
        """Expose a new family to OTel: the bridge emits its points at every collection."""
        with self._lock:
            self._families.append((family, self.streams(family.name, family.unit, family.description, family.kind)))

    def view_buckets(self, name: str, unit: str, description: str) -> tuple[float, ...] | None:
        """Bucket bounds a matching View's ExplicitBucketHistogramAggregation imposes, if any."""
        for view in self._matching(name, unit, description, MetricType.HISTOGRAM):
            aggregation = view._aggregation
            if isinstance(aggregation, ExplicitBucketHistogramAggregation) and aggregation._boundaries is not None:
                return tuple(float(b) for b in aggregation._boundaries)
        return None

    def streams(
        self, name: str, unit: str, description: str, kind: MetricType = MetricType.HISTOGRAM
    ) -> tuple[_Stream, ...]:
        """The streams Views make of a family (the family itself when no View matches)."""
        matching = self._matching(name, unit, description, kind)
        if not matching:
            return (_Stream(name, description, None),)
        streams = []
        for view in matching:
            if isinstance(view._aggregation, DropAggregation):
                continue
            keys = view._attribute_keys
            streams.append(
                _Stream(
                    view._name or name,
                    view._description or description,
                    frozenset(keys) if keys is not None else None,
                )
            )
        return tuple(streams)

    def _matching(self, name: str, unit: str, description: str, kind: MetricType) -> list[View]:
        """Views matching a family, probed as the OTel instrument types it stands for."""
        if not self._views:
            return []
        probes = [cls(name, SCOPE, None, unit=unit, description=description) for cls in _PROBES[kind]]
        return [view for view in self._views if any(view._match(probe) for probe in probes)]

    # -- the producer -------------------------------------------------------------------------

    def _install(self, reader: MetricReader) -> None:
        inner: Callable[..., MetricsData | None] | None = reader._collect  # type: ignore[assignment]
        if inner is None:
            return
        bridge = self

        def collect(r: MetricReader, timeout_millis: float = 10_000) -> MetricsData | None:
            if not bridge._active:
                return inner(r, timeout_millis=timeout_millis)
            bridge._reap()
            with bridge._collecting:
                bridge.source.begin()
                data = inner(r, timeout_millis=timeout_millis)
                return bridge._merge(data, r)

        reader._collect = collect  # type: ignore[assignment]

    def _merge(self, data: MetricsData | None, reader: MetricReader) -> MetricsData | None:
        produced = self.produce(reader)
        if not produced:
            return data
        if data is None or not data.resource_metrics:
            return MetricsData([ResourceMetrics(self._resource, [ScopeMetrics(SCOPE, produced, "")], "")])
        first, *rest = data.resource_metrics
        scopes = list(first.scope_metrics)
        for i, scope_metrics in enumerate(scopes):
            scope = scope_metrics.scope
            if (scope.name, scope.version) == (SCOPE.name, SCOPE.version):
                scopes[i] = ScopeMetrics(scope, [*scope_metrics.metrics, *produced], scope_metrics.schema_url)
                break
        else:
            scopes.append(ScopeMetrics(SCOPE, produced, ""))
        return MetricsData([ResourceMetrics(first.resource, scopes, first.schema_url), *rest])

    def produce(self, reader: MetricReader | None = None) -> list[Metric]:
        """OTel metrics for the histogram and summary families, cumulative unless ``reader`` wants delta."""
        delta = reader is not None and (
            reader._instrument_class_temporality.get(_Histogram) is AggregationTemporality.DELTA
        )
        now = time.time_ns()
        out: list[Metric] = []
        with self._lock:
            families = list(self._families)
        for family, streams in families:
            if family.kind in (MetricType.COUNTER, MetricType.GAUGE):
                out.extend(self._number_metrics(family, streams, now, reader))
                continue
            snapshots = self.source.distributions(family)
            stats = self.source.statistics(family) if family.kind is MetricType.SUMMARY else []
            for stream in streams:
                points = self._histogram_points(family, stream, snapshots, now, reader if delta else None)
                temporality = AggregationTemporality.DELTA if delta else AggregationTemporality.CUMULATIVE
                out.append(Metric(stream.name, stream.description, family.unit, Histogram(points, temporality)))
                if family.kind is MetricType.SUMMARY:
                    out.extend(self._quantile_metrics(family, stream, stats, now))
        return out

    def _number_metrics(
        self, family: Family, streams: tuple[_Stream, ...], now: int, reader: MetricReader | None
    ) -> list[Metric]:
        """Sum (counters) or Gauge (gauges) metrics; label sets a View merges are summed (gauges: last wins)."""
        counter = family.kind is MetricType.COUNTER
        delta = (
            counter
            and reader is not None
            and reader._instrument_class_temporality.get(_Counter) is AggregationTemporality.DELTA
        )
        state = self._delta_state.setdefault(id(reader), {}) if delta else None
        values = self.source.values(family)
        out = []
        for stream in streams:
            if stream.attribute_keys is None and state is None:  # the common case: one point per series as is
                start = family.start_time_ns
                points = [NumberDataPoint(attributes, start, now, value) for attributes, value in values]
                out.append(Metric(stream.name, stream.description, family.unit, _number_data(counter, points, False)))
                continue
            merged: dict[tuple[tuple[str, Any], ...], float] = {}
            for attributes, value in values:
                key = tuple(sorted(_filtered(attributes, stream.attribute_keys).items()))
                merged[key] = merged.get(key, 0) + value if counter else value
            points = []
            for key, total in merged.items():
                start, value = family.start_time_ns, total
                if state is not None:
                    previous = state.get((stream.name, key))
                    state[(stream.name, key)] = ([], total, now)
                    if previous is not None:
                        value, start = total - previous[1], previous[2]
                points.append(NumberDataPoint(dict(key), start, now, value))
            out.append(Metric(stream.name, stream.description, family.unit, _number_data(counter, points, delta)))
        return out

    def _histogram_points(
        self,
        family: Family,
        stream: _Stream,
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
        for attributes, snap, _ in snapshots:
            attrs = _filtered(attributes, stream.attribute_keys)
            key = tuple(sorted(attrs.items()))
            acc = merged.get(key)
            if acc is None:
                merged[key] = [list(snap.counts), snap.sum, snap.min, snap.max]
            else:
                acc[0] = [a + b for a, b in zip(acc[0], snap.counts)]
                acc[1] += snap.sum
                acc[2] = min(acc[2], snap.min)
                acc[3] = max(acc[3], snap.max)
        points = []
        state = self._delta_state.setdefault(id(delta_reader), {}) if delta_reader is not None else None
        for key, (cumulative_counts, cumulative_sum, low, high) in merged.items():
            start, counts, total = family.start_time_ns, cumulative_counts, cumulative_sum
            if state is not None:
                previous = state.get((stream.name, key))
                state[(stream.name, key)] = (cumulative_counts, cumulative_sum, now)
                if previous is not None:
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
                    explicit_bounds=family.bounds,
                    min=0.0 if empty or not math.isfinite(low) else low,
                    max=0.0 if empty or not math.isfinite(high) else high,
                    exemplars=exemplars,
                )
            )
        return points

    @staticmethod
    def _quantile_metrics(
        family: Family, stream: _Stream, series_stats: list[tuple[dict[str, Any], dict[str, float]]], now: int
    ) -> list[Metric]:
        """One gauge per quantile, ``<name>_p50`` ... ``<name>_p99`` (``_p99_9`` for 0.999), over the window."""
        stats = [(_filtered(attributes, stream.attribute_keys), values) for attributes, values in series_stats]
        metrics = []
        for q in family.quantiles:
            key = quantile_key(q)
            points = [
                NumberDataPoint(
                    attributes=attrs, start_time_unix_nano=family.start_time_ns, time_unix_nano=now, value=values[key]
                )
                for attrs, values in stats
            ]
            description = f"{q:g}-quantile of {stream.name} over the last {family.max_age:g} s (client-side)"
            metrics.append(Metric(f"{stream.name}_{key.replace('.', '_')}", description, family.unit, Gauge(points)))
        return metrics

    # -- lifecycle ----------------------------------------------------------------------------

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        """Shut down the provider if owned; otherwise detach this collector's readers and producer; idempotent."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        if self.owns_provider:
            self.provider.shutdown(timeout_millis=timeout_millis)  # periodic readers export a last time
            self._active = False
            return
        for reader in self._own_readers:
            try:
                self.provider._measurement_consumer.remove_metric_reader(reader)
            except KeyError:
                pass
            reader.shutdown(timeout_millis=timeout_millis)
        self._active = False


def _shutdown_provider_at_exit(ref: weakref.ref[SdkBridge]) -> None:
    """At exit: shut down (and so flush) the provider of a bridge whose collector was dropped unshut."""
    bridge = ref()
    if bridge is None or bridge._pid != os.getpid() or (bridge.owner is not None and bridge.owner() is not None):
        return  # gone, inherited from the parent, or its live collector's own exit hook does it
    bridge.shutdown()
