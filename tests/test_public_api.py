"""The public names are declared once and the compatibility paths only re-export them."""

from __future__ import annotations

from inspect import isfunction
from types import ModuleType

import rfs_otel
import rfs_otel.core.result as result_compat
import rfs_otel.monitoring.metrics as metrics_compat


def test_top_level_all_is_pinned() -> None:
    """The package's __all__ is exactly the documented public API."""
    assert sorted(rfs_otel.__all__) == sorted(
        [
            "Aggregation",
            "Alert",
            "AlertCondition",
            "AlertEvaluator",
            "AlertManager",
            "AlertRule",
            "AlertState",
            "AlertmanagerNotifier",
            "CallbackNotifier",
            "Counter",
            "DashboardNames",
            "CounterMetric",
            "DEFAULT_BUCKETS",
            "DEFAULT_QUANTILES",
            "Failure",
            "FileMetricsStorage",
            "Gauge",
            "Histogram",
            "InvalidLabelError",
            "InvalidMetricNameError",
            "InvalidValueError",
            "LoggingNotifier",
            "MemoryMetricsStorage",
            "Meter",
            "Metric",
            "MetricConflictError",
            "MetricError",
            "MetricFamily",
            "MetricFilter",
            "MetricType",
            "MetricsDashboard",
            "MetricsCollector",
            "MetricsStorage",
            "Notifier",
            "OTLPStorage",
            "PerformanceMonitored",
            "PrometheusStorage",
            "Result",
            "SLO",
            "Success",
            "Summary",
            "Timer",
            "TimingMetric",
            "UnwrapError",
            "WebhookNotifier",
            "__version__",
            "create_alert_rule",
            "get_alert_manager",
            "get_metrics_collector",
            "record_counter",
            "record_gauge",
            "record_histogram",
            "record_summary",
            "set_metrics_collector",
            "to_prometheus_rules",
        ]
    )


def test_all_is_exactly_the_public_names() -> None:
    """__all__ lists every public name the package binds and nothing it does not (as httpx pins its exports)."""
    bound = {
        name
        for name, value in vars(rfs_otel).items()
        if not name.startswith("_") and not isinstance(value, ModuleType) and value is not annotations
    }
    assert set(rfs_otel.__all__) == bound | {"__version__"}
    assert rfs_otel.__all__ == sorted(rfs_otel.__all__)


def test_public_objects_are_defined_inside_the_package() -> None:
    """Each exported class and function comes from rfs_otel itself, not re-exported from a dependency."""
    for name in rfs_otel.__all__:
        value = getattr(rfs_otel, name)
        module = getattr(value, "__module__", None)
        if isinstance(value, type) or isfunction(value):
            assert module is not None and module.startswith("rfs_otel"), (name, module)


def test_metrics_compat_path_reexports_the_same_objects() -> None:
    """rfs_otel.monitoring.metrics exposes the seed's names as the very same objects."""
    for name in (
        "MetricsCollector",
        "MemoryMetricsStorage",
        "MetricType",
        "Metric",
        "get_metrics_collector",
        "record_counter",
        "record_gauge",
        "record_histogram",
        "record_summary",
    ):
        assert getattr(metrics_compat, name) is getattr(rfs_otel, name)
    assert set(metrics_compat.__all__) <= set(rfs_otel.__all__)


def test_result_compat_path_reexports_result_types() -> None:
    """rfs_otel.core.result exposes Result, Success and Failure."""
    assert result_compat.Success is rfs_otel.Success
    assert result_compat.Failure is rfs_otel.Failure
    assert sorted(result_compat.__all__) == ["Failure", "Result", "Success"]


def test_errors_are_value_errors() -> None:
    """Every rfs_otel error can be caught as ValueError."""
    for name in ("InvalidLabelError", "InvalidMetricNameError", "InvalidValueError", "MetricConflictError"):
        assert issubclass(getattr(rfs_otel, name), ValueError)
