"""An alert and its life cycle: inactive -> pending -> firing -> resolved, and the step that advances it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

__all__ = ["Alert", "AlertState", "advance", "alert_annotations"]


class AlertState(str, Enum):
    """Where an alert is in its life cycle."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass
class Alert:
    """One rule's current alert: its state, the last evaluated value and when it fired or resolved."""

    name: str
    state: AlertState = AlertState.INACTIVE
    value: float = math.nan
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    pending_since: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    last_notified: float | None = None

    def snapshot(self) -> Alert:
        """A copy frozen at this moment: what notifiers receive, so a kept alert never changes afterwards."""
        return replace(self, labels=dict(self.labels), annotations=dict(self.annotations))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the webhook body)."""
        return {
            "name": self.name,
            "state": self.state.value,
            "value": None if math.isnan(self.value) else self.value,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }


def advance(alert: Alert, holds: bool, now: float, for_seconds: float, repeat_interval: float | None) -> bool:
    """Move ``alert`` one evaluation on, given whether its condition ``holds`` at ``now``; True when a
    notification is due (on firing, on each ``repeat_interval`` while firing, and on resolving)."""
    if holds:
        if alert.state in (AlertState.INACTIVE, AlertState.RESOLVED):
            alert.state, alert.pending_since, alert.ended_at = AlertState.PENDING, now, None
        if alert.state is AlertState.PENDING and _since(alert.pending_since, now) >= for_seconds:
            alert.state, alert.started_at, alert.last_notified = AlertState.FIRING, now, now
            return True
        if alert.state is AlertState.FIRING and repeat_interval and _since(alert.last_notified, now) >= repeat_interval:
            alert.last_notified = now
            return True
        return False
    if alert.state is AlertState.FIRING:
        alert.state, alert.ended_at, alert.last_notified = AlertState.RESOLVED, now, now
        return True
    if alert.state in (AlertState.PENDING, AlertState.RESOLVED):
        alert.state, alert.pending_since = AlertState.INACTIVE, None
    return False


def _since(moment: float | None, now: float) -> float:
    """Seconds from ``moment`` to ``now``; 0 when there is no moment (a time of 0.0 is a moment too)."""
    return 0.0 if moment is None else now - moment


def alert_annotations(summary: str, description: str) -> dict[str, str]:
    """An alert's annotations: ``summary`` and ``description``, each only when given."""
    return {key: text for key, text in (("summary", summary), ("description", description)) if text}
