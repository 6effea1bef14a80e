"""Compatibility path for RFS alerting: re-exports only."""

from rfs_otel import (
    SLO,
    Aggregation,
    Alert,
    AlertCondition,
    AlertEvaluator,
    AlertManager,
    AlertmanagerNotifier,
    AlertRule,
    AlertState,
    CallbackNotifier,
    LoggingNotifier,
    Notifier,
    WebhookNotifier,
    create_alert_rule,
    get_alert_manager,
    to_prometheus_rules,
)

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
]
