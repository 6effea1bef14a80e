"""Best practices at run time: unbounded-looking labels and naming violations warn once, or fail in strict mode.

The collector and ``rfs-otel lint`` share one rule set, which agrees with ``promtool check metrics``.
"""

from __future__ import annotations

import logging
import subprocess

import pytest

from rfs_otel import InvalidLabelError, InvalidMetricNameError, MetricFilter, MetricsCollector
from rfs_otel._cli.lint import lint_exposition

from .servers import binary

_ID_LIKE = [
    ("user_id", "42"),
    ("request_id", "abc"),
    ("session_id", "s1"),
    ("email", "someone"),
    ("order", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
    ("at", "2026-11-29T02:14:56Z"),
    ("at", "1764382496"),
    ("account", "12345678"),
    ("contact", "ann@example.com"),
]


@pytest.mark.parametrize(("label", "value"), _ID_LIKE)
def test_an_unbounded_looking_label_warns_with_a_fix(
    collector: MetricsCollector, caplog: pytest.LogCaptureFixture, label: str, value: str
) -> None:
    """An id-like label name or value logs a warning naming it and a one-line MetricFilter fix."""
    with caplog.at_level(logging.WARNING, logger="rfs_otel"):
        collector.counter("logins_total", labels={label: value}).increment()
    [message] = [r.getMessage() for r in caplog.records]
    assert repr(label) in message and f"MetricFilter.drop_labels({label!r}, metric_prefix='logins_total')" in message


def test_the_label_warning_comes_once_per_metric(collector: MetricsCollector, caplog: pytest.LogCaptureFixture) -> None:
    """A thousand user ids give one warning, not a thousand."""
    with caplog.at_level(logging.WARNING, logger="rfs_otel"):
        for i in range(1000):
            collector.counter("logins_total", labels={"user_id": str(i)}).increment()
    assert len(caplog.records) == 1


def test_bounded_labels_do_not_warn(collector: MetricsCollector, caplog: pytest.LogCaptureFixture) -> None:
    """Ordinary labels (status codes, methods, routes, ports) and good names log nothing."""
    with caplog.at_level(logging.WARNING, logger="rfs_otel"):
        collector.counter("http_requests_total", labels={"method": "GET", "status": "200", "port": "8080"})
        collector.histogram("http_request_duration_seconds", labels={"route": "/users/{id}"})
        collector.gauge("queue_depth").set(1)
    assert caplog.records == []


def test_the_suggested_filter_silences_the_warning(caplog: pytest.LogCaptureFixture) -> None:
    """With MetricFilter.drop_labels("user_id") the same call warns no more."""
    drop = MetricFilter.drop_labels("user_id", metric_prefix="logins_total")
    with MetricsCollector(filters=[drop]) as collector, caplog.at_level(logging.WARNING, logger="rfs_otel"):
        collector.counter("logins_total", labels={"user_id": "42", "method": "sso"}).increment()
    assert caplog.records == []


@pytest.mark.parametrize(
    ("kind", "name", "problem"),
    [
        ("gauge", "queueDepth", "camelCase"),
        ("gauge", "queue_depth_total", '"_total" suffix'),
        ("histogram", "job_duration", "_seconds"),
        ("histogram", "job_duration_ms", "abbreviated units"),
        ("gauge", "job_latency_milliseconds", 'base unit "seconds"'),
    ],
)
def test_naming_violations_warn_and_fail_in_strict_mode(
    caplog: pytest.LogCaptureFixture, kind: str, name: str, problem: str
) -> None:
    """Naming violations log a warning at creation; strict=True raises InvalidMetricNameError instead."""
    with MetricsCollector() as collector, caplog.at_level(logging.WARNING, logger="rfs_otel"):
        getattr(collector, kind)(name)
        getattr(collector, kind)(name)
    [message] = [r.getMessage() for r in caplog.records]
    assert name in message and problem in message
    with MetricsCollector(strict=True) as strict, pytest.raises(InvalidMetricNameError, match=problem):
        getattr(strict, kind)(name)


def test_strict_mode_refuses_unbounded_labels() -> None:
    """strict=True raises InvalidLabelError for an id-like label, naming the fix; good ones pass."""
    with MetricsCollector(strict=True) as strict:
        strict.counter("logins_total", labels={"method": "sso"}).increment()
        with pytest.raises(InvalidLabelError, match=r"MetricFilter.drop_labels\('user_id'"):
            strict.counter("logins_total", labels={"user_id": "42"})
        assert strict.get_sample_value("logins_total", {"method": "sso"}) == 1


_PROMTOOL_CASES = """\
# HELP queueDepth Jobs waiting
# TYPE queueDepth gauge
queueDepth 1
# HELP queue_depth_total Jobs waiting
# TYPE queue_depth_total gauge
queue_depth_total 1
# HELP job_duration_ms Job time
# TYPE job_duration_ms gauge
job_duration_ms 1
# HELP job_latency_milliseconds Job time
# TYPE job_latency_milliseconds gauge
job_latency_milliseconds 1
# HELP payload_kilobytes Payload
# TYPE payload_kilobytes gauge
payload_kilobytes 1
# HELP http_requests_total Requests
# TYPE http_requests_total counter
http_requests_total{statusCode="200"} 1
# HELP queue_depth_jobs Jobs waiting
# TYPE queue_depth_jobs gauge
queue_depth_jobs 1
"""


def test_lint_agrees_with_promtool_on_the_cases_promtool_covers() -> None:
    """Every (metric, message) promtool reports, rfs-otel lint reports too, with promtool's wording."""
    result = subprocess.run(
        [binary("promtool"), "check", "metrics"], input=_PROMTOOL_CASES, capture_output=True, text=True, timeout=30
    )
    reported = {tuple(line.split(" ", 1)) for line in (result.stdout + result.stderr).splitlines() if line.strip()}
    assert len(reported) == 6, reported
    ours = {(problem.metric, problem.message) for problem in lint_exposition(_PROMTOOL_CASES)}
    assert reported <= ours, reported - ours
    assert not any(metric == "queue_depth_jobs" for metric, _ in ours)
