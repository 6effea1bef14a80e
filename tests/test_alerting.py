"""Alerting: rule states, windows, SLO burn rates, notifiers, a real Alertmanager and promtool."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from rfs_otel import (
    SLO,
    Aggregation,
    Alert,
    AlertCondition,
    AlertManager,
    AlertmanagerNotifier,
    AlertRule,
    AlertState,
    InvalidValueError,
    LoggingNotifier,
    MetricsCollector,
    WebhookNotifier,
    create_alert_rule,
    get_alert_manager,
    get_metrics_collector,
    to_prometheus_rules,
)
from rfs_otel.testing import ManualClock, wait_until

from .servers import alertmanager, free_port, get_json, promtool_check_rules


@pytest.fixture
def wall() -> ManualClock:
    return ManualClock(start=1_700_000_000.0)


def _manager(collector: MetricsCollector, wall: ManualClock, *rules: Any, notifiers: Any = ()) -> AlertManager:
    return AlertManager(collector, rules=rules, notifiers=notifiers, interval=1, clock=wall)


def test_condition_accepts_rfs_values_and_operators() -> None:
    """AlertCondition parses 'gt', '>', '>=', '<=' and refuses unknown ones."""
    assert AlertCondition.parse("gt") is AlertCondition.GREATER_THAN
    assert AlertCondition.parse(">=") is AlertCondition.GREATER_EQUAL
    assert AlertCondition.parse("<=") is AlertCondition.LESS_EQUAL
    assert AlertCondition.NOT_EQUAL.value == "ne"
    with pytest.raises(InvalidValueError, match="unknown alert condition '=>'"):
        AlertCondition.parse("=>")


def test_value_rule_fires_once_and_resolves_once(collector: MetricsCollector, wall: ManualClock) -> None:
    """inactive -> firing (for_seconds=0) notifies once; staying high does not re-notify; dropping resolves."""
    received: list[tuple[str, str]] = []
    gauge = collector.gauge("queue_depth")
    rule = AlertRule("queue_too_deep", "queue_depth", "gt", 10)
    manager = _manager(collector, wall, rule, notifiers=[lambda a: received.append((a.name, a.state.value))])
    gauge.set(5)
    assert manager.evaluate_once() == []
    gauge.set(50)
    [alert] = manager.evaluate_once()
    assert (alert.state, alert.value) == (AlertState.FIRING, 50)
    wall.advance(1)
    manager.evaluate_once()
    gauge.set(1)
    wall.advance(1)
    assert manager.evaluate_once() == []
    assert received == [("queue_too_deep", "firing"), ("queue_too_deep", "resolved")]
    assert manager.alerts()[0].ended_at == wall.now


def test_for_seconds_holds_the_alert_pending(collector: MetricsCollector, wall: ManualClock) -> None:
    """With for_seconds=60 the alert stays pending until the condition has held for 60 s."""
    collector.gauge("cpu_ratio").set(0.95)
    manager = _manager(collector, wall, AlertRule("cpu_high", "cpu_ratio", ">", 0.9, for_seconds=60))
    assert manager.evaluate_once()[0].state is AlertState.PENDING
    wall.advance(59)
    assert manager.evaluate_once()[0].state is AlertState.PENDING
    wall.advance(1)
    assert manager.evaluate_once()[0].state is AlertState.FIRING


def test_flapping_inside_for_seconds_never_fires(collector: MetricsCollector, wall: ManualClock) -> None:
    """A condition that keeps dropping before for_seconds elapses never fires or notifies."""
    received: list[Alert] = []
    gauge = collector.gauge("cpu_ratio")
    manager = _manager(
        collector, wall, AlertRule("cpu_high", "cpu_ratio", ">", 0.9, for_seconds=30), notifiers=[received.append]
    )
    for i in range(10):
        gauge.set(0.95 if i % 2 == 0 else 0.5)
        manager.evaluate_once()
        wall.advance(20)
    assert received == []
    assert manager.alerts()[0].state is not AlertState.FIRING


def test_repeat_interval_renotifies_while_firing(collector: MetricsCollector, wall: ManualClock) -> None:
    """repeat_interval=60: a still-firing alert is sent again every 60 s, not on every evaluation."""
    received: list[float] = []
    collector.gauge("disk_free_ratio").set(0.01)
    manager = _manager(
        collector,
        wall,
        AlertRule("disk_full", "disk_free_ratio", "<", 0.05, repeat_interval=60),
        notifiers=[lambda a: received.append(wall.now)],
    )
    for _ in range(13):
        manager.evaluate_once()
        wall.advance(10)
    assert received == [wall.now - 130, wall.now - 70, wall.now - 10]


def test_label_filter_selects_series(collector: MetricsCollector, wall: ManualClock) -> None:
    """labels= restricts the value to matching series (summed)."""
    collector.counter("http_errors_total", labels={"service": "api", "code": "500"}).increment(7)
    collector.counter("http_errors_total", labels={"service": "web", "code": "500"}).increment(100)
    manager = _manager(collector, wall, AlertRule("api_errors", "http_errors_total", ">", 5, labels={"service": "api"}))
    [alert] = manager.evaluate_once()
    assert alert.value == 7


def test_rate_rule_uses_the_window(collector: MetricsCollector, wall: ManualClock) -> None:
    """aggregation='rate': increase per second over the last window, not a lifetime average."""
    counter = collector.counter("jobs_total")
    rule = AlertRule("job_flood", "jobs_total", ">", 5, aggregation="rate", window=60)
    manager = _manager(collector, wall, rule)
    counter.increment(1000)  # old burst
    manager.evaluate_once()
    for _ in range(12):  # then 2 per second for 120 s
        wall.advance(10)
        counter.increment(20)
        manager.evaluate_once()
    assert manager.alerts()[0].value == pytest.approx(2.0)
    assert manager.alerts()[0].state is AlertState.INACTIVE


def test_ratio_rule_computes_error_rate(collector: MetricsCollector, wall: ManualClock) -> None:
    """aggregation='ratio': errors / requests over the window."""
    requests, errors = collector.counter("http_requests_total"), collector.counter("http_errors_total")
    rule = AlertRule(
        "error_rate",
        "http_errors_total",
        ">",
        0.05,
        aggregation=Aggregation.RATIO,
        denominator="http_requests_total",
        window=300,
    )
    manager = _manager(collector, wall, rule)
    manager.evaluate_once()
    wall.advance(60)
    requests.increment(200)
    errors.increment(20)
    [alert] = manager.evaluate_once()
    assert alert.value == pytest.approx(0.1)


def test_histogram_quantile_rule(collector: MetricsCollector, wall: ManualClock) -> None:
    """aggregation='quantile' on a histogram: p95 of the observations in the window."""
    h = collector.histogram("latency_seconds", buckets=[0.1, 0.5, 1.0, 5.0])
    manager = _manager(
        collector,
        wall,
        AlertRule("slow", "latency_seconds", ">", 0.8, aggregation="quantile", quantile=0.95, window=60),
    )
    for _ in range(100):
        h.observe(0.05)
    manager.evaluate_once()
    wall.advance(61)
    for _ in range(100):
        h.observe(2.0)  # only slow requests in the new window
    [alert] = manager.evaluate_once()
    assert alert.value > 1.0


def test_summary_quantile_rule_uses_its_window(collector: MetricsCollector, wall: ManualClock) -> None:
    """aggregation='quantile' on a summary reads the summary's own exact quantile."""
    s = collector.summary("checkout_seconds")
    for i in range(1, 101):
        s.observe(i / 100)
    manager = _manager(
        collector, wall, AlertRule("slow_checkout", "checkout_seconds", ">", 0.9, aggregation="quantile", quantile=0.99)
    )
    [alert] = manager.evaluate_once()
    assert alert.value == pytest.approx(s.get_statistics()["p99"])


def test_missing_metric_never_fires(collector: MetricsCollector, wall: ManualClock) -> None:
    """A rule on a metric nobody created evaluates to NaN and stays inactive."""
    manager = _manager(collector, wall, AlertRule("ghost", "not_there_total", "lt", 1))
    assert manager.evaluate_once() == []
    assert math.isnan(manager.alerts()[0].value)


def _traffic(
    collector: MetricsCollector,
    manager: AlertManager,
    wall: ManualClock,
    seconds: int,
    per_step: int,
    error_share: float,
    step: int = 60,
) -> None:
    good, total = collector.counter("requests_good_total"), collector.counter("requests_total")
    for _ in range(seconds // step):
        wall.advance(step)
        total.increment(per_step)
        good.increment(round(per_step * (1 - error_share)))
        manager.evaluate_once()


def test_slo_fast_burn_fires_on_a_big_outage(collector: MetricsCollector, wall: ManualClock) -> None:
    """20% errors against a 99% SLO is a 20x burn: both the 1h/5m (14.4x) and 6h/30m (6x) pairs fire."""
    slo = SLO("checkout", objective=0.99, good="requests_good_total", total="requests_total")
    manager = _manager(collector, wall, slo)
    _traffic(collector, manager, wall, 3600, 1000, 0.0)
    _traffic(collector, manager, wall, 3600, 1000, 0.2)
    states = {a.name: a.state for a in manager.alerts()}
    assert states == {"checkout_burn_rate_fast": AlertState.FIRING, "checkout_burn_rate_slow": AlertState.FIRING}
    values = {a.name: a.value for a in manager.alerts()}
    assert values["checkout_burn_rate_fast"] == pytest.approx(20.0)  # 1h and 5m both saw 20% errors
    assert values["checkout_burn_rate_slow"] == pytest.approx(10.0, rel=0.02)  # 6h window: 1 clean + 1 bad hour


def test_slo_slow_burn_fires_only_the_slow_pair(collector: MetricsCollector, wall: ManualClock) -> None:
    """8% errors against a 99% SLO (8x burn) fires the 6x pair but not the 14.4x one."""
    slo = SLO("checkout", objective=0.99, good="requests_good_total", total="requests_total")
    manager = _manager(collector, wall, slo)
    _traffic(collector, manager, wall, 7 * 3600, 1000, 0.08)
    states = {a.name: a.state for a in manager.alerts()}
    assert states["checkout_burn_rate_slow"] is AlertState.FIRING
    assert states["checkout_burn_rate_fast"] is AlertState.INACTIVE
    slow = next(a for a in manager.alerts() if a.name.endswith("slow"))
    assert slow.value == pytest.approx(8.0, rel=0.01)


def test_slo_error_budget_remaining(collector: MetricsCollector, wall: ManualClock) -> None:
    """0.5% errors against a 99% SLO leaves half the budget; it is also a gauge metric."""
    slo = SLO("api", objective=0.99, window=3 * 3600, good="requests_good_total", total="requests_total")
    manager = _manager(collector, wall, slo)
    _traffic(collector, manager, wall, 4 * 3600, 1000, 0.005)
    assert manager.error_budget_remaining("api") == pytest.approx(0.5, abs=0.01)
    gauge = collector.gauge("rfs_slo_error_budget_remaining", labels={"slo": "api"})
    assert gauge.get_value() == pytest.approx(0.5, abs=0.01)


def test_latency_slo_counts_fast_requests_as_good(collector: MetricsCollector, wall: ManualClock) -> None:
    """A latency SLO: requests at or under the threshold bucket are good."""
    h = collector.histogram("http_request_duration_seconds", buckets=[0.1, 0.25, 0.5, 1.0])
    slo = SLO("latency", objective=0.9, latency_metric="http_request_duration_seconds", latency_threshold=0.25)
    manager = _manager(collector, wall, slo)
    for _ in range(80):
        wall.advance(300)
        for _ in range(50):
            h.observe(0.05)
        for _ in range(50):
            h.observe(0.8)  # half slow: 50% errors vs 10% budget = 5x burn
        manager.evaluate_once()
    slow = next(a for a in manager.alerts() if a.name.endswith("slow"))
    assert slow.value == pytest.approx(5.0, rel=0.01)
    assert slow.state is AlertState.INACTIVE  # 5x < 6x


def test_firing_state_is_a_metric(collector: MetricsCollector, wall: ManualClock) -> None:
    """rfs_alerts_firing{alertname=...} is 1 while firing and 0 otherwise."""
    gauge = collector.gauge("queue_depth")
    manager = _manager(collector, wall, AlertRule("deep", "queue_depth", ">", 1))
    gauge.set(5)
    manager.evaluate_once()
    firing = collector.gauge("rfs_alerts_firing", labels={"alertname": "deep"})
    assert firing.get_value() == 1
    gauge.set(0)
    manager.evaluate_once()
    assert firing.get_value() == 0


def test_failing_notifier_is_counted_and_others_still_run(collector: MetricsCollector, wall: ManualClock) -> None:
    """A webhook to a closed port fails, is counted in a metric, and the callback still receives the alert."""
    received: list[Alert] = []
    collector.gauge("queue_depth").set(5)
    webhook = WebhookNotifier(f"http://127.0.0.1:{free_port()}/hook", timeout=1, retries=1, backoff=0.01)
    manager = _manager(collector, wall, AlertRule("deep", "queue_depth", ">", 1), notifiers=[webhook, received.append])
    manager.evaluate_once()
    assert len(received) == 1
    failed = collector.counter("rfs_alert_notifications_failed_total", labels={"notifier": "webhook"})
    assert failed.get_value() == 1


class _Hook(BaseHTTPRequestHandler):
    bodies: ClassVar[list[Any]] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Hook.fail_first > 0:
            _Hook.fail_first -= 1
            self.send_response(503)
        else:
            _Hook.bodies.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Any:
    _Hook.bodies, _Hook.fail_first = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


def test_webhook_posts_json_and_retries_with_backoff(collector: MetricsCollector, wall: ManualClock, hook: str) -> None:
    """The webhook retries a 503 and delivers the alert as JSON."""
    _Hook.fail_first = 2
    collector.gauge("queue_depth").set(5)
    manager = _manager(
        collector,
        wall,
        AlertRule("deep", "queue_depth", ">", 1, summary="queue is deep"),
        notifiers=[WebhookNotifier(hook, retries=3, backoff=0.01)],
    )
    manager.evaluate_once()
    [body] = _Hook.bodies
    assert body["name"] == "deep" and body["state"] == "firing" and body["value"] == 5
    assert body["annotations"] == {"summary": "queue is deep"}


def test_async_callback_is_awaited(collector: MetricsCollector, wall: ManualClock) -> None:
    """An async callback is awaited by aevaluate_once (and run to completion by evaluate_once)."""
    received: list[str] = []

    async def on_alert(alert: Alert) -> None:
        await asyncio.sleep(0)
        received.append(alert.state.value)

    gauge = collector.gauge("queue_depth")
    gauge.set(5)
    manager = _manager(collector, wall, AlertRule("deep", "queue_depth", ">", 1), notifiers=[on_alert])
    asyncio.run(manager.aevaluate_once())
    gauge.set(0)
    manager.evaluate_once()
    assert received == ["firing", "resolved"]


def test_logging_notifier_logs_transitions(
    collector: MetricsCollector, wall: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """LoggingNotifier logs firing at WARNING."""
    collector.gauge("queue_depth").set(5)
    manager = _manager(collector, wall, AlertRule("deep", "queue_depth", ">", 1), notifiers=[LoggingNotifier()])
    with caplog.at_level(logging.INFO, logger="rfs_otel.alerts"):
        manager.evaluate_once()
    assert any(r.levelno == logging.WARNING and "deep firing" in r.getMessage() for r in caplog.records)


def test_create_alert_rule_registers_on_the_default_manager() -> None:
    """create_alert_rule(name, metric_name, condition, threshold, callback) as in RFS."""
    received: list[Alert] = []
    rule = create_alert_rule(
        "high_memory", "memory_usage_bytes", AlertCondition.GREATER_THAN, 1000, callback=received.append
    )
    get_metrics_collector().gauge("memory_usage_bytes").set(5000)
    manager = get_alert_manager()
    assert rule in manager.rules()
    manager.evaluate_once()
    assert [a.name for a in received] == ["high_memory"]


def test_background_thread_evaluates_until_stopped(collector: MetricsCollector) -> None:
    """start() evaluates every interval in a thread; stop() ends it."""
    fired = threading.Event()
    collector.gauge("queue_depth").set(5)
    manager = AlertManager(
        collector, [AlertRule("deep", "queue_depth", ">", 1)], notifiers=[lambda a: fired.set()], interval=0.05
    )
    before = set(threading.enumerate())
    manager.start()
    try:
        assert fired.wait(5)
        [thread] = [t for t in set(threading.enumerate()) - before if t.name == "rfs-otel-alerts"]
    finally:
        manager.stop()
    assert not thread.is_alive()


def test_background_task_on_the_event_loop(collector: MetricsCollector) -> None:
    """start_async() runs the loop as an asyncio task."""
    collector.gauge("queue_depth").set(5)
    received: list[Alert] = []
    manager = AlertManager(
        collector, [AlertRule("deep", "queue_depth", ">", 1)], notifiers=[received.append], interval=0.02
    )

    async def run() -> None:
        manager.start_async()
        for _ in range(200):
            if received:
                break
            await asyncio.sleep(0.01)
        manager.stop()

    asyncio.run(run())
    assert received and received[0].name == "deep"


def test_rule_validation_names_the_bad_value() -> None:
    """Bad thresholds, windows and aggregations are refused with the value in the message."""
    with pytest.raises(InvalidValueError, match="threshold must be a number, got 'high'"):
        AlertRule("r", "x_total", "gt", "high")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="window must be a positive"):
        AlertRule("r", "x_total", "gt", 1, window=0)
    with pytest.raises(InvalidValueError, match="aggregation must be one of"):
        AlertRule("r", "x_total", "gt", 1, aggregation="p95")
    with pytest.raises(InvalidValueError, match="denominator"):
        AlertRule("r", "x_total", "gt", 1, aggregation="ratio")
    with pytest.raises(InvalidValueError, match=r"objective must be in \(0, 1\), got 99.9"):
        SLO("s", objective=99.9, good="a_total", total="b_total")
    with pytest.raises(InvalidValueError, match="either good= and total="):
        SLO("s", good="a_total")


def test_evaluating_a_thousand_rules_is_fast(collector: MetricsCollector, wall: ManualClock) -> None:
    """1,000 rules evaluate in well under the default 15 s interval (figure in nox -s bench)."""
    for i in range(100):
        collector.counter("req_total", labels={"shard": str(i)}).increment(i)
    rules = [
        AlertRule(
            f"r{i}", "req_total", "gt", 10**6, labels={"shard": str(i % 100)}, aggregation="rate" if i % 2 else "value"
        )
        for i in range(1000)
    ]
    manager = _manager(collector, wall, *rules)
    started = time.perf_counter()
    manager.evaluate_once()
    assert time.perf_counter() - started < 15


def _rules_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(text)
    return path


def test_prometheus_rules_pass_promtool(collector: MetricsCollector, tmp_path: Path) -> None:
    """Every rule kind and both SLO kinds render to YAML that promtool check rules accepts."""
    collector.counter("http_requests_total")
    collector.counter("http_errors_total")
    collector.histogram("http_request_duration_seconds")
    collector.summary("checkout_seconds")
    collector.gauge("queue_depth")
    rules = [
        AlertRule(
            "queue_deep",
            "queue_depth",
            ">",
            100,
            for_seconds=60,
            summary="Queue is deep",
            description='more than 100 "jobs" waiting',
        ),
        AlertRule("request_flood", "http_requests_total", ">", 1000, aggregation="rate", window=60),
        AlertRule(
            "error_rate",
            "http_errors_total",
            ">",
            0.05,
            aggregation="ratio",
            denominator="http_requests_total",
            severity="critical",
            labels={"service": "api"},
        ),
        AlertRule("slow_p95", "http_request_duration_seconds", ">", 0.5, aggregation="quantile", by=()),
        AlertRule("slow checkout p99!", "checkout_seconds", ">=", 2, aggregation="quantile", quantile=0.99, by=()),
        SLO("availability", objective=0.999, good="http_requests_total", total="http_requests_total"),
        SLO("latency", objective=0.99, latency_metric="http_request_duration_seconds", latency_threshold=0.25),
    ]
    text = to_prometheus_rules(rules, collector)
    result = promtool_check_rules(_rules_file(tmp_path, text))
    assert result.returncode == 0, result.stdout + result.stderr + text
    assert "SUCCESS: 9 rules found" in result.stdout
    assert "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m]" not in text
    assert "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[300s])))" in text
    assert 'max(checkout_seconds{quantile=\\"0.99\\"}) >= 2.0' in text  # the native summary (YAML-quoted)


def test_alerts_reach_a_real_alertmanager(collector: MetricsCollector, wall: ManualClock, tmp_path: Path) -> None:
    """A firing rule shows up in Alertmanager's /api/v2/alerts; once resolved it carries an end time."""
    gauge = collector.gauge("queue_depth")
    with alertmanager(tmp_path) as url:
        manager = AlertManager(
            collector,
            [AlertRule("QueueDeep", "queue_depth", ">", 10, severity="critical", summary="queue is deep")],
            notifiers=[AlertmanagerNotifier(url, generator_url="http://svc/metrics")],
            clock=time.time,
        )
        gauge.set(50)
        manager.evaluate_once()
        [firing] = [a for a in get_json(f"{url}/api/v2/alerts") if a["labels"]["alertname"] == "QueueDeep"]
        assert firing["status"]["state"] == "active"
        assert firing["labels"]["severity"] == "critical"
        assert firing["annotations"]["summary"] == "queue is deep"
        assert firing["generatorURL"] == "http://svc/metrics"
        gauge.set(0)
        manager.evaluate_once()
        resolved_at = manager.alerts()[0].ended_at
        assert resolved_at is not None

        def resolved() -> bool:
            return not [
                a
                for a in get_json(f"{url}/api/v2/alerts?active=true")
                if a["labels"]["alertname"] == "QueueDeep" and a["status"]["state"] == "active"
            ]

        wait_until(resolved, timeout=5)
