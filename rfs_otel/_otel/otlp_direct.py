"""The OTLP storage's reader with a direct path: facade counters, gauges and histograms encoded without OTel points.

One collection: the OTel path (SDK instruments, summaries, exponential histograms, families a View reshapes) is
collected with the plain facade families left out and encoded by OTel's own ``encode_metrics``; the left-out
families' ``Metric`` bytes (``otlp_wire``) are then added to the ``ScopeMetrics`` of their scope in that
request's first ``ResourceMetrics`` (protobuf repeated fields concatenate), where the bridge would have put them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader, Metric, MetricsData
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from .._engine.family import Family
from .._model.records import MetricType
from . import compat
from .compat import PROBES
from .direct_state import as_is
from .otlp_wire import FamilyWire, delimited
from .scopes import with_scopes
from .views import scope_of

__all__ = ["DirectOTLPReader", "EncodedRequest"]


@dataclass(frozen=True)
class _Points:
    """Stands in for an encoded metric where an exporter counts data points (``WhichOneof`` then ``data_points``)."""

    data_points: range

    def WhichOneof(self, _: str) -> str:  # noqa: N802 - protobuf's name
        return "sum"

    @property
    def sum(self) -> _Points:
        return self


class EncodedRequest:
    """A serialized ``ExportMetricsServiceRequest`` in the shape an OTLP exporter sends (``SerializeToString``)."""

    def __init__(self, payload: bytes, data: MetricsData, direct_points: int) -> None:
        self.payload = payload
        self.data = data  # the OTel-path part, as collected
        self.direct_points = direct_points

    def SerializeToString(self) -> bytes:  # noqa: N802 - protobuf's name
        return self.payload

    @property
    def resource_metrics(self) -> list[_Resource]:
        """Enough of the request's structure for an exporter to count its data points."""
        metrics = [metric for rm in self.data.resource_metrics for sm in rm.scope_metrics for metric in sm.metrics]
        counts = [_Points(range(len(m.data.data_points))) for m in metrics] + [_Points(range(self.direct_points))]
        return [_Resource(counts)]


@dataclass(frozen=True)
class _Resource:
    metrics: list[_Points]

    @property
    def scope_metrics(self) -> list[_Resource]:
        return [self]


def _key(name: str, version: str | None, schema_url: str | None) -> tuple[str, str, str]:
    return name, version or "", schema_url or ""


class DirectOTLPReader(InMemoryMetricReader):
    """``InMemoryMetricReader`` whose ``encoded()`` writes the bridge's plain families straight to OTLP bytes."""

    def __init__(self, temporality: Any = None, aggregation: Any = None) -> None:
        super().__init__(preferred_temporality=temporality, preferred_aggregation=aggregation)
        self._producer: Any = None
        self._wires: dict[int, FamilyWire] = {}

    def bind_bridge(self, producer: Any) -> None:
        """Called by the bridge feeding this reader: its families can then be encoded directly."""
        self._producer = producer

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Unbind the bridge and drop the cached bytes: the shut-down collector's series are not kept alive."""
        self._producer = None
        self._wires = {}
        super().shutdown(timeout_millis=timeout_millis, **kwargs)

    def _direct(self, family: Family) -> bool:
        kind = family.kind
        if kind is MetricType.GAUGE:
            return as_is(self._producer, family)
        if kind not in (MetricType.COUNTER, MetricType.HISTOGRAM):
            return False
        if compat.prefers_delta(self, PROBES[kind][0]):  # delta streams keep their state on the OTel path
            return False
        return as_is(self._producer, family)

    def encoded(self) -> EncodedRequest | None:
        """One collection as a serialized OTLP request, or None when no family is encoded directly."""
        producer = self._producer
        if producer is None:
            return None
        with producer.collecting() as source:
            direct = [family for family in producer.direct.families() if self._direct(family)]
            if not direct:
                return None
            with producer.direct.excluding(direct):
                data = self.get_metrics_data()
            if data is None or not data.resource_metrics:
                return None
            now = time.time_ns()
            by_scope: dict[tuple[str, str, str], list[bytes]] = {}
            scopes: dict[InstrumentationScope, list[Metric]] = {}
            points = 0
            for family in direct:
                wire = self._wires.get(id(family))
                if wire is None or wire.family is not family:
                    wire = self._wires[id(family)] = FamilyWire(family)
                metric, count = wire.encode(source, now)
                points += count
                scope = scope_of(family)
                scopes[scope] = []
                by_scope.setdefault(_key(scope.name, scope.version, scope.schema_url), []).append(
                    delimited(b"\x12", metric)
                )  # ScopeMetrics.metrics
        data = with_scopes(data, scopes, data.resource_metrics[0].resource, None)  # the scopes the families need
        from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics  # the otlp extra

        return EncodedRequest(_merged(encode_metrics(data), by_scope), data, points)


def _merged(request: Any, by_scope: dict[tuple[str, str, str], list[bytes]]) -> bytes:
    """``request`` serialized with ``by_scope``'s metric bytes added to its first resource's scopes of that key."""
    from opentelemetry.proto.metrics.v1 import metrics_pb2  # the otlp extra, as the exporter using this is

    first, *rest = request.resource_metrics
    head = metrics_pb2.ResourceMetrics()
    head.CopyFrom(first)
    del head.scope_metrics[:]
    parts = [head.SerializeToString()]
    for scope_metrics in first.scope_metrics:
        added = by_scope.get(_key(scope_metrics.scope.name, scope_metrics.scope.version, scope_metrics.schema_url))
        if added is None and not scope_metrics.metrics:  # the bridge's placeholder for the left-out families
            continue
        parts.append(delimited(b"\x12", scope_metrics.SerializeToString() + b"".join(added or ())))
    out = [delimited(b"\x0a", b"".join(parts))]
    out.extend(delimited(b"\x0a", resource_metrics.SerializeToString()) for resource_metrics in rest)
    return b"".join(out)
