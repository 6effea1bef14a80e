"""The seed's remaining cautions: alert snapshots, read-only lookups, no phantom series, per-call labels."""

from __future__ import annotations

from rfs_otel import Alert, AlertManager, AlertRule, AlertState, MetricsCollector
from rfs_otel.testing import ManualClock


def test_a_notified_alert_never_changes_afterwards(collector: MetricsCollector) -> None:
    """The Alert a callback received as firing still reads firing after the rule resolves."""
    wall = ManualClock(start=1_700_000_000.0)
    received: list[Alert] = []
    depth = collector.gauge("queue_depth")
    manager = AlertManager(collector, [AlertRule("deep", "queue_depth", ">", 10)], [received.append], clock=wall)
    depth.set(50)
    manager.evaluate_once()
    listed = manager.alerts()[0]
    depth.set(1)
    wall.advance(5)
    manager.evaluate_once()
    assert [a.state for a in received] == [AlertState.FIRING, AlertState.RESOLVED]
    assert (received[0].state, received[0].value, received[0].ended_at) == (AlertState.FIRING, 50, None)
    assert (listed.state, listed.value) == (AlertState.FIRING, 50)
    received[0].labels["team"] = "x"
    assert "team" not in manager.alerts()[0].labels
