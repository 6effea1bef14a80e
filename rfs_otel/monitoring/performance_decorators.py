"""Compatibility path for ``rfs.monitoring.performance_decorators``: re-exports only."""

from rfs_otel import CounterMetric, PerformanceMonitored, Timer, TimingMetric

__all__ = ["CounterMetric", "PerformanceMonitored", "Timer", "TimingMetric"]
