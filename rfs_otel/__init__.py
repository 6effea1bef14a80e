"""rfs_otel: the RFS Framework's metrics API as a fast facade over OpenTelemetry."""

from __future__ import annotations

from ._alerting.default import create_alert_rule, get_alert_manager
from ._alerting.evaluator import AlertEvaluator, AlertManager
from ._alerting.model import Alert, AlertState
from ._alerting.notifiers import AlertmanagerNotifier, CallbackNotifier, LoggingNotifier, Notifier, WebhookNotifier
from ._alerting.prom_rules import to_prometheus_rules
from ._alerting.rules import SLO, Aggregation, AlertCondition, AlertRule
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
from ._engine.factories import Meter
from ._engine.filters import MetricFilter
from ._engine.series import Counter, Gauge, Histogram, Summary
from ._engine.timer import Timer
from ._engine.view import MetricFamily
from ._errors import (
    InvalidLabelError,
    InvalidMetricNameError,
    InvalidValueError,
    MetricConflictError,
    MetricError,
)
from ._model.records import Metric, MetricType
from ._model.validation import DEFAULT_BUCKETS, DEFAULT_QUANTILES
from ._result import Failure, Result, Success, UnwrapError
from ._storages.base import MetricsStorage
from ._storages.file import FileMetricsStorage
from ._storages.memory import MemoryMetricsStorage
from ._storages.otlp import OTLPStorage
from ._storages.prometheus import PrometheusStorage
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
    "Meter",
    "Metric",
    "MetricConflictError",
    "MetricError",
    "MetricFamily",
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
