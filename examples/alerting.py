"""Alerting in-process: a threshold rule, an error-rate rule and an SLO, notifying a callback.

Also prints the same rules as a Prometheus alerting-rules file (to_prometheus_rules).
"""

from __future__ import annotations

from rfs_otel import SLO, Alert, AlertManager, AlertRule, MetricsCollector, to_prometheus_rules
from rfs_otel.testing import ManualClock


def main() -> None:
    clock = ManualClock(start=1_700_000_000.0)  # a real service leaves clock= out and calls manager.start()
    collector = MetricsCollector()
    requests = collector.counter("http_requests_total", "Requests")
    errors = collector.counter("http_errors_total", "Failed requests")
    ok = collector.counter("http_requests_ok_total", "Successful requests")
    queue = collector.gauge("job_queue_depth", "Jobs waiting")

    rules = [
        AlertRule("JobQueueDeep", "job_queue_depth", ">", 100, for_seconds=60, summary="More than 100 jobs waiting"),
        AlertRule(
            "HighErrorRate",
            "http_errors_total",
            ">",
            0.05,
            aggregation="ratio",
            denominator="http_requests_total",
            window=300,
            severity="critical",
        ),
        SLO("availability", objective=0.99, good="http_requests_ok_total", total="http_requests_total"),
    ]

    def on_alert(alert: Alert) -> None:
        print(f"  -> {alert.name} is {alert.state.value} (value {alert.value:.3g})")

    manager = AlertManager(collector, rules, notifiers=[on_alert], interval=15, clock=clock)
    for minute in range(90):
        clock.advance(60)
        failing = 30 <= minute < 60  # half an hour of 20% errors
        requests.increment(1000)
        errors.increment(200 if failing else 2)
        ok.increment(800 if failing else 998)
        queue.set(150 if 10 <= minute < 13 else 20)
        manager.evaluate_once()
    print(f"error budget remaining: {manager.error_budget_remaining('availability'):.1%}")
    print()
    print(to_prometheus_rules(rules, collector))
    collector.shutdown()


if __name__ == "__main__":
    main()
