"""Helpers for users' own tests: a manual clock, an isolated collector, and reading exported OTel data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.metrics.export import MetricsData

from ._collector import MetricsCollector
from ._default import set_metrics_collector
from ._storages.memory import MemoryMetricsStorage

__all__ = ["ManualClock", "exported_points", "isolated_collector"]


class ManualClock:
    """A clock for ``MetricsCollector(clock=...)`` that only moves when told (window expiry tests)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def isolated_collector(**kwargs: Any) -> Iterator[MetricsCollector]:
    """A memory-backed collector installed as the process default for the block, then shut down."""
    kwargs.setdefault("storage", MemoryMetricsStorage())
    collector = MetricsCollector(**kwargs)
    previous = set_metrics_collector(collector)
    try:
        yield collector
    finally:
        set_metrics_collector(previous)
        collector.shutdown()


def exported_points(data: MetricsData | None, name: str) -> list[Any]:
    """All OTel data points of metric ``name`` in a collection (empty if absent)."""
    if data is None:
        return []
    return [
        point
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]
