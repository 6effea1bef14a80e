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
    "SLO",
    "Aggregation",
    "Alert",
    "AlertCondition",
    "AlertEvaluator",
    "AlertManager",
    "AlertRule",
    "AlertState",
    "AlertmanagerNotifier",
    "CallbackNotifier",
    "LoggingNotifier",
    "Notifier",
    "WebhookNotifier",
    "create_alert_rule",
    "get_alert_manager",
    "to_prometheus_rules",
    "DEFAULT_BUCKETS",
    "DEFAULT_QUANTILES",
    "Counter",
    "DashboardNames",
    "CounterMetric",
    "Failure",
    "FileMetricsStorage",
    "Gauge",
    "Histogram",
    "InvalidLabelError",
    "InvalidMetricNameError",
    "InvalidValueError",
    "MemoryMetricsStorage",
    "Metric",
    "MetricConflictError",
    "MetricError",
    "MetricFilter",
    "MetricType",
    "MetricsDashboard",
    "MetricsCollector",
    "MetricsStorage",
    "OTLPStorage",
    "PerformanceMonitored",
    "PrometheusStorage",
    "Result",
    "Success",
    "Summary",
    "Timer",
    "TimingMetric",
    "UnwrapError",
    "__version__",
    "get_metrics_collector",
    "record_counter",
    "record_gauge",
    "record_histogram",
    "record_summary",
    "set_metrics_collector",
]
