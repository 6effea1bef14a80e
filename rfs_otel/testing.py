"""Helpers for users' own tests: a manual clock, an isolated collector, reading exported OTel data, waiting."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.metrics.export import MetricsData

from ._collector import MetricsCollector
from ._default import set_metrics_collector
from ._engine.series import Summary
from ._storages.memory import MemoryMetricsStorage

__all__ = [
    "ManualClock",
    "exported_points",
    "isolated_collector",
    "retained_samples",
    "skip_shutdown_flush",
    "thread_slots",
    "wait_until",
]


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


def skip_shutdown_flush(collector: MetricsCollector) -> MetricsCollector:
    """Make ``collector.shutdown()`` deliver no last collection to its storages (they are still released).

    For tests that count deliveries exactly, or whose endpoint is gone or stuck by the time they shut down.
    """
    for storage in collector.storages:
        storage.flush_on_shutdown = False
    return collector


def wait_until(condition: Callable[[], object], timeout: float = 5.0, interval: float = 0.01) -> None:
    """Poll ``condition`` until it is truthy; raise TimeoutError naming it after ``timeout`` seconds.

    A test waits on what it needs to have happened rather than sleeping a fixed time.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            name = getattr(condition, "__qualname__", repr(condition))
            raise TimeoutError(f"condition {name} was still false after {timeout:g} s")
        time.sleep(interval)


def thread_slots(collector: MetricsCollector) -> int:
    """How many per-thread value lists the collector holds now (ended threads' are folded away at collection)."""
    return collector.thread_slot_count()


def retained_samples(summary: Summary) -> int:
    """How many observations a summary holds in memory now (ones older than ``max_age`` are released)."""
    return summary.retained_samples()
