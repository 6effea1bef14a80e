"""Shared fixtures: a fresh collector (and default collector) for every test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rfs_otel import MemoryMetricsStorage, MetricsCollector, set_metrics_collector
from rfs_otel.testing import ManualClock


@pytest.fixture(autouse=True)
def fresh_default_collector() -> Iterator[None]:
    """Each test starts with a new process-wide default collector and leaves none behind."""
    previous = set_metrics_collector(None)
    yield
    current = set_metrics_collector(previous)
    if current is not None:
        current.shutdown()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def memory() -> MemoryMetricsStorage:
    return MemoryMetricsStorage()


@pytest.fixture
def collector(memory: MemoryMetricsStorage, clock: ManualClock) -> Iterator[MetricsCollector]:
    with MetricsCollector(storage=memory, clock=clock) as c:
        yield c


@pytest.fixture
def default_collector() -> Iterator[MetricsCollector]:
    """A collector installed as the process-wide default (what the web middleware and decorators record into)."""
    with MetricsCollector() as c:
        previous = set_metrics_collector(c)
        try:
            yield c
        finally:
            set_metrics_collector(previous)


@pytest.fixture
def module_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on ``sys.path`` for a test's own modules; they are forgotten (``sys.modules``) afterwards."""
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]
