"""What the dashboard reads, as Protocols: the web layer sits below storages and the collector, so it names
the collector's read side (``MetricSource``) and an alert manager's (``AlertSource``) instead of importing them.

``MetricsCollector`` and ``AlertManager`` satisfy these structurally; values are read with ``_engine.reading``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from opentelemetry.sdk.metrics.export import MetricsData

from .._engine.view import MetricFamily
from .._model.records import Metric

__all__ = ["AlertSource", "AlertView", "MetricSource", "OTelCollecting", "by_name"]


class MetricSource(Protocol):
    """The read side of a collector: its metric families, their records, its storages."""

    def families(self) -> list[MetricFamily]: ...

    def snapshot(self) -> list[Metric]: ...

    async def get_all_metrics(self) -> list[Metric]: ...

    @property
    def storages(self) -> Sequence[object]: ...

    @property
    def system_metrics_enabled(self) -> bool: ...


class AlertView(Protocol):
    """One alert as the dashboard shows it."""

    def to_dict(self) -> dict[str, Any]: ...


class AlertSource(Protocol):
    """Something that knows the pending and firing alerts (an ``AlertManager``)."""

    def active_alerts(self) -> Sequence[AlertView]: ...


@runtime_checkable
class OTelCollecting(Protocol):
    """A storage that collects OTel ``MetricsData`` on demand (the memory storage); system metrics come from it."""

    def collect(self) -> MetricsData | None: ...


def by_name(source: MetricSource) -> Mapping[str, MetricFamily]:
    """The source's families, keyed by metric name."""
    return {family.name: family for family in source.families()}
