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
    "set_exporter_deadline",
    "view_aggregation",
    "view_attribute_keys",
    "view_boundaries",
    "view_exponential",
    "view_description",
    "view_matches",
    "view_name",
    "install_summary_hooks",
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


def _sdk_version() -> str:
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
            f"rfs_otel does not support opentelemetry-sdk {_sdk_version()}: it relies on {missing}, "
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


# -- native summaries in the optional exporters ---------------------------------------------------

#: Private names of the optional exporters the summary hooks use, per module (checked when hooks install).
SUMMARY_HOOK_NAMES: dict[str, tuple[str, ...]] = {
    "opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder": ("_encode_metric", "_encode_attributes"),
    "opentelemetry.exporter.otlp.json.common._internal.metrics_encoder": ("_encode_metric", "_encode_attributes"),
    "opentelemetry.exporter.prometheus": ("_CustomCollector",),
    "opentelemetry.exporter.prometheus._mapping": ("sanitize_attribute", "map_unit"),
}
_PROMETHEUS_METHODS = ("_translate_metric", "_resolve_metric_name", "_check_value")


def _exporter_module(name: str) -> Any:
    """The installed exporter module ``name`` with the private names the hooks use, or None when not installed.

    Raises ImportError naming the installed versions when the module is there but a name is gone.
    """
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    missing = [f"{name}.{n}" for n in SUMMARY_HOOK_NAMES[name] if not hasattr(module, n)]
    if name == "opentelemetry.exporter.prometheus":
        collector = getattr(module, "_CustomCollector", None)
        missing += [f"_CustomCollector.{n}()" for n in _PROMETHEUS_METHODS if not callable(getattr(collector, n, None))]
    if missing:
        raise ImportError(
            f"rfs_otel cannot export native summaries with these OpenTelemetry exporters (sdk {_sdk_version()}): "
            f"it relies on {missing}, which they do not have; install the versions pyproject.toml names"
        )
    return module


def install_summary_hooks(
    kind: type, encode_pb2: Callable[..., None], encode_json: Callable[..., Any], render: Any
) -> None:
    """Teach the installed exporters to write ``kind`` metrics (rfs_otel's summary data) as native summaries.

    OTLP protobuf and JSON encode them as ``Summary`` points; the Prometheus exporter renders them with
    ``render(name, documentation, unit, label_names, rows)`` (same name, unit and scope-label handling as its
    own families). Idempotent; exporters that are not installed are skipped.
    """
    pb2 = _exporter_module("opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder")
    if pb2 is not None and not getattr(pb2._encode_metric, "rfs_summary", False):
        pb2_original, pb2_attributes = pb2._encode_metric, pb2._encode_attributes

        def encode_metric_pb2(metric: Any, pb2_metric: Any) -> None:
            if isinstance(metric.data, kind):
                encode_pb2(metric, pb2_metric, pb2_attributes)
            else:
                pb2_original(metric, pb2_metric)

        encode_metric_pb2.rfs_summary = True  # type: ignore[attr-defined]
        pb2._encode_metric = encode_metric_pb2
    as_json = _exporter_module("opentelemetry.exporter.otlp.json.common._internal.metrics_encoder")
    if as_json is not None and not getattr(as_json._encode_metric, "rfs_summary", False):
        json_original, json_attributes = as_json._encode_metric, as_json._encode_attributes

        def encode_metric_json(metric: Any) -> Any:
            if isinstance(metric.data, kind):
                return encode_json(metric, json_attributes)
            return json_original(metric)

        encode_metric_json.rfs_summary = True  # type: ignore[attr-defined]
        as_json._encode_metric = encode_metric_json
    prometheus = _exporter_module("opentelemetry.exporter.prometheus")
    mapping = _exporter_module("opentelemetry.exporter.prometheus._mapping")
    if prometheus is not None and mapping is not None:
        _hook_prometheus(prometheus._CustomCollector, mapping, kind, render)


def _hook_prometheus(collector: Any, mapping: Any, kind: type, render: Any) -> None:
    original = collector._translate_metric
    if getattr(original, "rfs_summary", False):
        return

    def translate_metric(
        self: Any,
        metric: Any,
        scope_attrs: dict[str, Any],
        resource_attrs: dict[str, Any],
        metric_family_id_metric_family: dict[str, Any],
    ) -> None:
        if not isinstance(metric.data, kind):
            original(self, metric, scope_attrs, resource_attrs, metric_family_id_metric_family)
            return
        name, unit = self._resolve_metric_name(metric.name), mapping.map_unit(metric.unit or "")
        data: Any = metric.data
        label_rows: list[dict[str, str]] = []
        for point in data.data_points:
            merged = {**resource_attrs, **scope_attrs, **point.attributes}
            label_rows.append({mapping.sanitize_attribute(k): self._check_value(v) for k, v in merged.items()})
        names = sorted({k for row in label_rows for k in row})
        rows = [
            ([row.get(k, "") for k in names], point.count, point.sum, point.quantile_values)
            for row, point in zip(label_rows, data.data_points)
        ]
        family_id = "|".join((name, metric.description or "", unit, "summary"))
        metric_family_id_metric_family[family_id] = render(name, metric.description or "", unit, names, rows)

    translate_metric.rfs_summary = True  # type: ignore[attr-defined]
    collector._translate_metric = translate_metric
