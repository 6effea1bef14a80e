"""Memory storage: OTel's ``InMemoryMetricReader``, keeping the latest collections for inspection."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from opentelemetry.sdk.metrics.export import MetricReader, MetricsData

from .._otel.bridge import in_memory_reader
from .._result import Failure, Result, Success
from .base import MetricsStorage

__all__ = ["MemoryMetricsStorage", "count_points"]


def count_points(data: MetricsData | None) -> int:
    """Number of data points in a collection."""
    if data is None:
        return 0
    return sum(
        len(metric.data.data_points) for rm in data.resource_metrics for sm in rm.scope_metrics for metric in sm.metrics
    )


class MemoryMetricsStorage(MetricsStorage):
    """Volatile storage for development and tests: the last ``history`` collections stay in memory."""

    def __init__(self, history: int = 10) -> None:
        if isinstance(history, bool) or not isinstance(history, int) or history < 1:
            raise ValueError(f"MemoryMetricsStorage history must be a positive int, got {history!r}")
        self._reader = in_memory_reader()
        self._history: deque[MetricsData] = deque(maxlen=history)

    def readers(self) -> Sequence[MetricReader]:
        return (self._reader,)

    def collect(self) -> MetricsData | None:
        """Collect now through the OTel in-memory reader and return the genuine OTel ``MetricsData`` (None while no
        collector has taken this storage)."""
        if not self.claimed:
            return None
        data = self._reader.get_metrics_data()
        if data is not None:
            self._history.append(data)
        return data

    def store(self, timeout: float) -> Result[int, str]:
        try:
            data = self.collect()
        except Exception as exc:  # a failing callback must not escape into the service
            return Failure(f"memory storage: collection failed: {type(exc).__name__}: {exc}")
        return Success(count_points(data))

    @property
    def history(self) -> list[MetricsData]:
        """The stored collections, oldest first."""
        return list(self._history)

    def latest(self) -> MetricsData | None:
        """The most recent stored collection, or None before the first one."""
        return self._history[-1] if self._history else None

    def __repr__(self) -> str:
        return f"MemoryMetricsStorage(history={self._history.maxlen})"
