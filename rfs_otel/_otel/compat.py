"""Every use of a private OpenTelemetry SDK name, in one place, checked when this module is imported.

rfs_otel bridges its own series into the SDK's readers (a MetricProducer the SDK has no public hook for),
applies Views itself and makes the SDK fork-safe; each needs a name the SDK keeps private. If an SDK
release renames one, importing rfs_otel fails here with the installed version named, not later in a scrape.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal._view_instrument_match import _ViewInstrumentMatch
from opentelemetry.sdk.metrics._internal.aggregation import _Aggregation
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
    InMemoryMetricReader,
    MetricExporter,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import (
    Aggregation,
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource

from .._model.records import MetricType
from .._util.fork import Reinitialisable, reinit

__all__ = [
    "PROBES",
    "Collect",
    "detach_reader",
    "exporter_preferences",
    "prefers_delta",
    "provider_readers",
    "provider_resource",
    "provider_views",
    "reader_exporter",
    "reinit_sdk_locks",
    "remove_reader",
    "send_encoded",
    "sdk_version",
    "set_exporter_deadline",
    "view_aggregation",
    "view_attribute_keys",
    "view_boundaries",
    "view_exponential",
    "view_description",
    "view_matches",
    "view_name",
    "wrap_collect",
    "wrap_consumer_collect",
]

#: A reader's collect callback: ``collect(reader, timeout_millis=...)``.
Collect = Callable[..., "MetricsData | None"]

#: The OTel instrument types a View may name to select a facade metric of each kind.
PROBES: dict[MetricType, tuple[type, ...]] = {
    MetricType.COUNTER: (_Counter, _ObservableCounter),
    MetricType.GAUGE: (_Gauge, _ObservableGauge),
    MetricType.HISTOGRAM: (_Histogram,),
    MetricType.SUMMARY: (_Histogram,),
}

#: Private attributes each class's ``__init__`` sets and this module reads or replaces.
_INIT_ATTRIBUTES: dict[type, tuple[str, ...]] = {
    MeterProvider: ("_measurement_consumer", "_sdk_config", "_all_metric_readers_lock"),
    SynchronousMeasurementConsumer: ("_lock", "_reader_storages"),
    MetricReaderStorage: ("_lock", "_instrument_view_instrument_matches"),
    _ViewInstrumentMatch: ("_lock", "_attributes_aggregation"),
    _Aggregation: ("_lock", "_reservoir"),
    FixedSizeExemplarReservoirABC: ("_lock",),
    InMemoryMetricReader: ("_lock",),
    PeriodicExportingMetricReader: ("_export_lock", "_exporter"),
    MetricReader: ("_collect", "_instrument_class_temporality"),
    MetricExporter: ("_preferred_temporality", "_preferred_aggregation"),
    View: ("_name", "_description", "_attribute_keys", "_aggregation"),
    ExplicitBucketHistogramAggregation: ("_boundaries",),
    ExponentialBucketHistogramAggregation: ("_max_size", "_max_scale"),
}
#: Private methods called.
_METHODS: dict[type, tuple[str, ...]] = {
    View: ("_match",),
    SynchronousMeasurementConsumer: ("remove_metric_reader",),
}


def sdk_version() -> str:
    """The installed opentelemetry-sdk version, for error messages."""
    metadata = importlib.import_module("importlib.metadata")  # only for an error message: ~1 MB of imports
    try:
        return str(metadata.version("opentelemetry-sdk"))
    except metadata.PackageNotFoundError:  # pragma: no cover - the SDK is imported above, so it is installed
        return "unknown"


def check_sdk(
    attributes: dict[type, tuple[str, ...]] = _INIT_ATTRIBUTES, methods: dict[type, tuple[str, ...]] = _METHODS
) -> None:
    """Raise ImportError naming the installed SDK version if a private name this module relies on is gone."""
    missing = []
    for cls, names in attributes.items():
        assigned = cls.__init__.__code__.co_names  # type: ignore[misc]
        missing += [f"{cls.__module__}.{cls.__qualname__}.{n}" for n in names if n not in assigned]
    for cls, names in methods.items():
        missing += [f"{cls.__module__}.{cls.__qualname__}.{n}()" for n in names if not callable(getattr(cls, n, None))]
    if missing:
        raise ImportError(
            f"rfs_otel does not support opentelemetry-sdk {sdk_version()}: it relies on {missing}, "
            "which this version does not have; install a supported opentelemetry-sdk (see pyproject.toml)"
        )


check_sdk()


# -- provider and readers ---------------------------------------------------------------------


def provider_views(provider: MeterProvider) -> tuple[View, ...]:
    """The Views a MeterProvider was configured with."""
    return tuple(provider._sdk_config.views)


def provider_resource(provider: MeterProvider) -> Resource:
    """The Resource a MeterProvider was configured with."""
    resource: Resource = provider._sdk_config.resource
    return resource


def provider_readers(provider: MeterProvider) -> list[MetricReader]:
    """The readers already registered on ``provider`` (a service's own)."""
    consumer = getattr(provider, "_measurement_consumer", None)
    return list(getattr(consumer, "_reader_storages", ()))


def detach_reader(provider: MeterProvider, reader: MetricReader) -> None:
    """Detach an already shut down ``reader`` from ``provider`` (the public way would shut it down again)."""
    remove_reader(provider, reader)
    reader._set_collect_callback(None)
    readers: set[MetricReader] | None = getattr(type(provider), "_all_metric_readers", None)
    if readers is not None:
        with provider._all_metric_readers_lock:
            readers.discard(reader)


def reader_exporter(reader: MetricReader) -> MetricExporter | None:
    """The exporter a periodic reader pushes to (None for other readers)."""
    exporter: MetricExporter | None = reader._exporter if isinstance(reader, PeriodicExportingMetricReader) else None
    return exporter


def wrap_consumer_collect(provider: MeterProvider, wrap: Callable[[Collect], Collect]) -> None:
    """Make every reader added to ``provider`` from now on collect through ``wrap(callback)`` (an instance
    attribute shadowing the consumer's ``collect`` is what ``add_metric_reader`` hands out from then on)."""
    consumer = provider._measurement_consumer
    consumer.collect = wrap(consumer.collect)  # type: ignore[method-assign]


def remove_reader(provider: MeterProvider, reader: MetricReader) -> None:
    """Detach ``reader`` from ``provider`` (there is no public way); a reader not attached is ignored."""
    with contextlib.suppress(KeyError):
        provider._measurement_consumer.remove_metric_reader(reader)


def wrap_collect(reader: MetricReader, wrap: Callable[[Collect], Collect]) -> None:
    """Replace ``reader``'s collect callback by ``wrap(callback)``; a reader not yet registered is left alone."""
    inner: Collect | None = reader._collect  # type: ignore[assignment]
    if inner is not None:
        reader._collect = wrap(inner)  # type: ignore[assignment]


def prefers_delta(reader: MetricReader | None, instrument: type) -> bool:
    """Whether ``reader`` wants delta temporality for the (private SDK) ``instrument`` class."""
    if reader is None:
        return False
    preferences: dict[Any, AggregationTemporality] = reader._instrument_class_temporality
    return preferences.get(instrument) is AggregationTemporality.DELTA


def exporter_preferences(
    exporter: MetricExporter,
) -> tuple[dict[type, AggregationTemporality] | None, dict[type, Aggregation] | None]:
    """The temporality and aggregation preferences an exporter was built with."""
    return exporter._preferred_temporality, exporter._preferred_aggregation


# -- views ------------------------------------------------------------------------------------


def view_matches(view: View, instrument: Any) -> bool:
    """Whether ``view`` selects ``instrument`` (an SDK instrument object)."""
    return bool(view._match(instrument))


def view_aggregation(view: View) -> Aggregation:
    aggregation: Aggregation = view._aggregation
    return aggregation


def view_exponential(view: View) -> tuple[int, int] | None:
    """``(max_size, max_scale)`` of ``view``'s ExponentialBucketHistogramAggregation, if it has one."""
    aggregation = view._aggregation
    if isinstance(aggregation, ExponentialBucketHistogramAggregation):
        return int(aggregation._max_size), int(aggregation._max_scale)
    return None


def view_boundaries(view: View) -> tuple[float, ...] | None:
    """The bucket bounds ``view`` imposes with an ExplicitBucketHistogramAggregation, if it does."""
    aggregation = view._aggregation
    if isinstance(aggregation, ExplicitBucketHistogramAggregation) and aggregation._boundaries is not None:
        return tuple(float(b) for b in aggregation._boundaries)
    return None


def view_name(view: View) -> str | None:
    name: str | None = view._name
    return name


def view_description(view: View) -> str | None:
    description: str | None = view._description
    return description


def view_attribute_keys(view: View) -> frozenset[str] | None:
    keys = view._attribute_keys
    return frozenset(keys) if keys is not None else None


# -- fork safety ------------------------------------------------------------------------------


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


def send_encoded(exporter: Any, request: Any) -> Any:
    """Send encoded ``request`` by an HTTP exporter's one-batch path; None: it has none (``request=None``: ask)."""
    send = getattr(exporter, "_export_batch", None)  # the exporters are optional: checked where used
    if send is None or getattr(exporter, "_max_export_batch_size", None) or getattr(exporter, "_shutdown", True):
        return None
    return True if request is None else send(request)


def set_exporter_deadline(exporter: Any, seconds: float) -> None:
    """Cap an OTLP exporter's retry budget (``_timeout``); an exporter without one (optional extra) is left as is."""
    holder = getattr(exporter, "_client", None) if not hasattr(exporter, "_timeout") else exporter
    if holder is not None and isinstance(getattr(holder, "_timeout", None), (int, float)):
        holder._timeout = seconds
