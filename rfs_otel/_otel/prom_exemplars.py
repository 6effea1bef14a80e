"""Exemplars on the bucket lines of histogram families a View reshapes, in OpenMetrics scrapes.

A traced ``@PerformanceMonitored`` timing keeps one exemplar per bucket. A family rendered directly writes them
itself (``prom_text``); one a View renames or re-buckets goes through OTel's Prometheus exporter, which writes no
exemplars, so they are put back on its bucket samples here: on the first bucket whose bound holds the value, the
latest exemplar of a bucket winning (as the OTLP path keeps them). Streams that merge series (a View's
``attribute_keys``) get none, as on the OTLP path: a merged point has no single trace to point at.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from prometheus_client.core import HistogramMetricFamily
from prometheus_client.samples import Exemplar

from .._engine.family import Family
from .._engine.source import Source
from .._model.names import map_unit, sanitize_name
from .._model.records import MetricType
from .._model.validation import prometheus_label
from .points import Stream
from .prom_text import label_value

__all__ = ["ExemplarIndex", "exemplar_index", "with_exemplars"]

#: Prometheus family name -> series labels (scope labels and ``le`` left out) -> (value, time ns, trace, span).
ExemplarIndex = dict[str, dict[frozenset[tuple[str, str]], list[tuple[float, int, int, int]]]]


class Streams(Protocol):
    """What the index needs from the bridge: the streams its Views make of a family."""

    def streams(self, name: str, unit: str, description: str, kind: MetricType, **scope: Any) -> tuple[Stream, ...]:
        """The streams the provider's Views make of a family (``scope=``: a meter's, where families have one)."""


def _prometheus_name(name: str, unit: str) -> str:
    """The name OTel's exporter gives a histogram stream (prometheus_client's, from the sanitised name and unit)."""
    return str(HistogramMetricFamily(sanitize_name(name), "", labels=["a"], unit=map_unit(unit or "")).name)


def exemplar_index(producer: Streams, source: Source, families: Iterable[Family]) -> ExemplarIndex:
    """The exemplars of the explicit-bucket histogram ``families`` per Prometheus name and series, for one scrape."""
    index: ExemplarIndex = {}
    for family in families:
        if family.kind is not MetricType.HISTOGRAM or getattr(family, "exponential", None) is not None:
            continue
        series = [(attributes, marks) for attributes, _, marks in source.distributions(family) if marks]
        if not series:
            continue
        scope = getattr(family, "scope", None)
        extra = {} if scope is None else {"scope": scope}
        for stream in producer.streams(family.name, family.unit, family.description, family.kind, **extra):
            if stream.attribute_keys is not None:
                continue
            by_labels = index.setdefault(_prometheus_name(stream.name, family.unit), {})
            for attributes, marks in series:
                key = frozenset((prometheus_label(k), label_value(v)) for k, v in attributes.items())
                by_labels[key] = list(marks.values())
    return index


def with_exemplars(metric: Any, index: ExemplarIndex) -> Any:
    """``metric`` (a prometheus_client family) with exemplars on the bucket samples of the series ``index`` holds."""
    by_labels = index.get(metric.name)
    if not by_labels or metric.type != "histogram":
        return metric
    buckets: dict[frozenset[tuple[str, str]], list[tuple[float, int]]] = {}  # series -> (bound, sample position)
    for position, sample in enumerate(metric.samples):
        if sample.name.endswith("_bucket") and sample.exemplar is None:
            key = _series_key(sample.labels)
            if key in by_labels:
                buckets.setdefault(key, []).append((float(sample.labels["le"]), position))
    chosen: dict[int, tuple[float, int, int, int]] = {}  # sample position -> the latest exemplar it holds
    for key, bounds in buckets.items():
        bounds.sort()
        les = [bound for bound, _ in bounds]
        for mark in by_labels[key]:
            at = bisect_left(les, mark[0])
            if at < len(bounds):
                position = bounds[at][1]
                if position not in chosen or chosen[position][1] < mark[1]:
                    chosen[position] = mark
    for position, (value, at_ns, trace_id, span_id) in chosen.items():
        labels = {"span_id": f"{span_id:016x}", "trace_id": f"{trace_id:032x}"}
        metric.samples[position] = metric.samples[position]._replace(exemplar=Exemplar(labels, value, at_ns / 1e9))
    return metric


def _series_key(labels: Mapping[str, str]) -> frozenset[tuple[str, str]]:
    """A bucket sample's series: its labels without ``le`` and the ``otel_scope_*`` labels every point carries."""
    return frozenset((k, v) for k, v in labels.items() if k != "le" and not k.startswith("otel_scope_"))
