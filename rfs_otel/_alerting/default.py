"""The process-wide AlertManager on the default collector, and RFS's ``create_alert_rule`` that feeds it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .._default import get_metrics_collector
from .._util.fork import reinit_in_child
from .evaluator import AlertManager
from .model import Alert
from .rules import AlertCondition, AlertRule

__all__ = ["create_alert_rule", "get_alert_manager"]

_default_manager: list[AlertManager] = []
_default_lock = threading.Lock()
reinit_in_child(_default_lock)  # a forked child can always reach its default manager


def get_alert_manager() -> AlertManager:
    """The process-wide AlertManager on the default collector (created on first use, not started)."""
    with _default_lock:
        collector = get_metrics_collector()
        if not _default_manager or _default_manager[0].collector is not collector:
            _default_manager[:] = [AlertManager(collector)]
        return _default_manager[0]


def create_alert_rule(
    name: str,
    metric_name: str,
    condition: AlertCondition | str,
    threshold: float,
    callback: Callable[[Alert], Any] | None = None,
    **options: Any,
) -> AlertRule:
    """Create a rule as RFS does and register it on the default AlertManager; ``callback`` is notified."""
    rule = AlertRule(name, metric_name, condition, threshold, callback=callback, **options)
    get_alert_manager().add(rule)
    return rule
