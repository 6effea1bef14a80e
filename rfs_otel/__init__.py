"""rfs_otel: the RFS Framework's metrics API as a fast facade over OpenTelemetry."""

from __future__ import annotations

from ._alert_rules import SLO, Aggregation, AlertCondition, AlertRule
from ._alerting import Alert, AlertEvaluator, AlertManager, AlertState, create_alert_rule, get_alert_manager
from ._collector import MetricsCollector
from ._dashboard import DashboardNames, MetricsDashboard
from ._decorators import CounterMetric, PerformanceMonitored, TimingMetric
from ._default import (
    get_metrics_collector,
    record_counter,
    record_gauge,
    record_histogram,
    record_summary,
    set_metrics_collector,
)
from ._errors import (
    InvalidLabelError,
    InvalidMetricNameError,
    InvalidValueError,
    MetricConflictError,
    MetricError,
)
from ._file_storage import FileMetricsStorage
from ._filters import MetricFilter
from ._instruments import Counter, Gauge, Histogram, Summary
from ._memory_storage import MemoryMetricsStorage
from ._notifiers import AlertmanagerNotifier, CallbackNotifier, LoggingNotifier, Notifier, WebhookNotifier
from ._otlp_storage import OTLPStorage
from ._prom_rules import to_prometheus_rules
from ._prometheus_storage import PrometheusStorage
from ._records import Metric, MetricType
from ._result import Failure, Result, Success, UnwrapError
from ._storage import MetricsStorage
from ._timer import Timer
from ._validation import DEFAULT_BUCKETS, DEFAULT_QUANTILES
from ._version import __version__

__all__ = [
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
    "CounterMetric",
    "DEFAULT_BUCKETS",
    "DEFAULT_QUANTILES",
    "DashboardNames",
    "Failure",
    "FileMetricsStorage",
    "Gauge",
    "Histogram",
    "InvalidLabelError",
    "InvalidMetricNameError",
    "InvalidValueError",
    "LoggingNotifier",
    "MemoryMetricsStorage",
    "Metric",
    "MetricConflictError",
    "MetricError",
    "MetricFilter",
    "MetricType",
    "MetricsCollector",
    "MetricsDashboard",
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
