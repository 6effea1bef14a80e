"""Native summaries: OTel has no Summary point type, so rfs_otel brings one and teaches the exporters to write it.

A summary family exports one ``Metric`` whose data is :class:`SummaryData`: per series the cumulative count and
sum of every observation and the configured quantiles over the window. ``exporter_hooks.hook_imported_exporters`` makes
OTLP (protobuf and JSON) encode it as an OTLP ``Summary`` and the Prometheus exporter render it as a
``summary`` family (``{quantile="0.95"}`` samples plus ``_sum`` and ``_count``), with :func:`prometheus_summary`.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from opentelemetry.sdk.metrics.export import Metric

from .._engine.family import Family
from .._engine.layout import HistogramSnapshot
from .._model.quantile import quantile_key
from .exporter_hooks import hook_imported_exporters
from .points import Stream, filtered

__all__ = [
    "SummaryData",
    "SummaryPoint",
    "encode_json",
    "encode_pb2",
    "prometheus_summary",
    "summary_metric",
]


@dataclass(frozen=True)
class SummaryPoint:
    """One series of a summary: cumulative count and sum, and (quantile, value) pairs over the window."""

    attributes: Mapping[str, Any]
    start_time_unix_nano: int
    time_unix_nano: int
    count: int
    sum: float
    quantile_values: tuple[tuple[float, float], ...]
    exemplars: tuple[Any, ...] = field(default=())

    def to_json(self, indent: int | None = 4) -> str:
        return json.dumps(
            {
                "attributes": dict(self.attributes),
                "start_time_unix_nano": self.start_time_unix_nano,
                "time_unix_nano": self.time_unix_nano,
                "count": self.count,
                "sum": self.sum,
                "quantile_values": [{"quantile": q, "value": v} for q, v in self.quantile_values],
            },
            indent=indent,
        )


@dataclass(frozen=True)
class SummaryData:
    """The data of a summary ``Metric`` (the OTel SDK has Sum, Gauge and the histograms, but no Summary)."""

    data_points: Sequence[SummaryPoint]

    def to_json(self, indent: int | None = 4) -> str:
        points = [json.loads(point.to_json(indent)) for point in self.data_points]
        return json.dumps({"data_points": points}, indent=indent)


def summary_metric(
    family: Family,
    stream: Stream,
    stats: list[tuple[dict[str, Any], dict[str, float]]],
    snapshots: list[tuple[dict[str, Any], HistogramSnapshot, Any]],
    now: int,
) -> Metric:
    """The summary metric of ``family`` under ``stream``: count and sum of every observation, window quantiles.

    Series a View folds together (it dropped the attributes telling them apart) add their counts and sums and
    keep the quantiles of the busiest one (quantiles of separate windows do not combine exactly).
    """
    hook_imported_exporters(SummaryData, encode_pb2, encode_json, prometheus_summary)  # the ones imported by now
    cumulative = {_key(attributes): snap for attributes, snap, _ in snapshots}
    merged: dict[tuple[tuple[str, Any], ...], SummaryPoint] = {}
    for attributes, values in stats:
        snap = cumulative.get(_key(attributes))
        count, total = (snap.count, snap.sum) if snap is not None else (int(values["count"]), values["sum"])
        quantiles = tuple((q, values[quantile_key(q)]) for q in family.quantiles)
        kept = filtered(attributes, stream.attribute_keys)
        key = _key(kept)
        previous = merged.get(key)
        if previous is not None:
            if previous.count > count:
                quantiles = previous.quantile_values
            count, total = count + previous.count, total + previous.sum
        start = family.start_of(attributes)
        merged[key] = SummaryPoint(kept, start, now, count, total, quantiles)
    return Metric(stream.name, stream.description, family.unit, SummaryData(list(merged.values())))  # type: ignore[arg-type]


def _key(attributes: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(attributes.items()))


def encode_pb2(metric: Metric, pb2_metric: Any, encode_attributes: Any) -> None:
    """Fill an OTLP protobuf ``Metric`` with the summary's points (``summary.data_points``)."""
    from opentelemetry.proto.metrics.v1 import metrics_pb2

    pb2_metric.summary.data_points.extend(_points(metrics_pb2, cast(SummaryData, metric.data), encode_attributes))


def encode_json(metric: Metric, encode_attributes: Any) -> Any:
    """An OTLP JSON ``Metric`` carrying the summary's points."""
    otlp_json: Any = importlib.import_module("opentelemetry.proto_json.metrics.v1.metrics")
    points = _points(otlp_json, cast(SummaryData, metric.data), encode_attributes)
    return otlp_json.Metric(
        name=metric.name,
        description=metric.description,
        unit=metric.unit,
        summary=otlp_json.Summary(data_points=points),
    )


def prometheus_summary(
    name: str,
    documentation: str,
    unit: str,
    label_names: Sequence[str],
    rows: Sequence[tuple[Sequence[str], int, float, Sequence[tuple[float, float]]]],
) -> Any:
    """A prometheus_client ``summary`` family: per row (label values, count, sum, (quantile, value) pairs)
    the ``name{quantile="q"}`` samples, ``name_sum`` and ``name_count`` (self-contained: any renderer may use it).

    ``name`` is already sanitised; prometheus_client appends ``_<unit>`` when the name lacks it.
    """
    from prometheus_client.core import Metric as PrometheusMetric

    family = PrometheusMetric(name, documentation, "summary", unit)
    for values, count, total, quantiles in rows:
        labels = dict(zip(label_names, values))
        for q, v in quantiles:
            family.add_sample(family.name, {**labels, "quantile": _float_text(q)}, v)
        family.add_sample(family.name + "_sum", labels, total)
        family.add_sample(family.name + "_count", labels, float(count))
    return family


def _float_text(q: float) -> str:
    """``0.95`` -> ``"0.95"``: the quantile label as Prometheus clients write it."""
    return repr(float(q)) if math.isfinite(q) else str(q)


def _points(module: Any, data: SummaryData, encode_attributes: Any) -> list[Any]:
    """``SummaryDataPoint`` messages of ``module`` (the protobuf or the JSON classes: they share field names)."""
    value_at = module.SummaryDataPoint.ValueAtQuantile
    return [
        module.SummaryDataPoint(
            attributes=encode_attributes(point.attributes),
            start_time_unix_nano=point.start_time_unix_nano,
            time_unix_nano=point.time_unix_nano,
            count=point.count,
            sum=point.sum,
            quantile_values=[value_at(quantile=q, value=v) for q, v in point.quantile_values],
        )
        for point in data.data_points
    ]
