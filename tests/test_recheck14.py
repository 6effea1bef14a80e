"""Re-check of issue 14 by a new user: the problems found, each pinned by the behaviour the docs promise."""

from __future__ import annotations

import logging

import pytest

from rfs_otel import (
    Alert,
    AlertManager,
    AlertRule,
    InvalidLabelError,
    InvalidMetricNameError,
    InvalidValueError,
    MetricConflictError,
    MetricsCollector,
    PrometheusStorage,
)
from rfs_otel._cli.lint import lint_exposition
from rfs_otel.testing import ManualClock


def test_get_sample_value_takes_the_exposed_name_of_a_metric_with_a_unit() -> None:
    """``get_sample_value`` reads ``lat_seconds_count`` for ``summary("lat", unit="s")``, as Prometheus shows it."""
    with MetricsCollector() as collector:
        collector.summary("lat", unit="s", labels={"route": "/a"}).observe(0.5)
        collector.histogram("hold", unit="s").observe(0.2)
        collector.counter("busy", unit="s").increment(3)
        assert collector.get_sample_value("lat_seconds", {"route": "/a", "quantile": "0.5"}) == 0.5
        assert collector.get_sample_value("lat_seconds_count", {"route": "/a"}) == 1
        assert collector.get_sample_value("hold_seconds_count") == 1
        assert collector.get_sample_value("busy_seconds_total") == 3
        assert collector.get_sample_value("lat_count", {"route": "/a"}) == 1  # the metric's own name still works


def test_get_sample_value_takes_exposed_label_names() -> None:
    """An OTel attribute key ``http.route`` is read back under its exposed name ``http_route`` too."""
    with MetricsCollector() as collector:
        collector.counter("hits_total", labels={"http.route": "/a"}).increment()
        assert collector.get_sample_value("hits_total", {"http_route": "/a"}) == 1
        assert collector.get_sample_value("hits_total", {"http.route": "/a"}) == 1
        assert collector.get_sample_value("hits_total", {"http_route": "/b"}) is None


def test_get_sample_value_refuses_labels_that_are_not_a_mapping() -> None:
    """Labels given as a string raise ``InvalidLabelError`` naming them, not an ``AttributeError``."""
    with MetricsCollector() as collector:
        with pytest.raises(InvalidLabelError, match=r"labels must be a dict.*'status=ok'"):
            collector.get_sample_value("requests_total", "status=ok")  # type: ignore[arg-type]
        with pytest.raises(InvalidMetricNameError, match=r"name must be a str.*None"):
            collector.get_sample_value(None)  # type: ignore[arg-type]
        assert collector.series_count() == 0


def test_each_notifier_receives_its_own_snapshot() -> None:
    """A callback that edits the alert it got does not change what the next notifier receives."""
    received: list[dict[str, str]] = []

    def enrich(alert: Alert) -> None:
        alert.labels["team"] = "payments"

    with MetricsCollector() as collector:
        collector.gauge("queue_depth").set(200)
        manager = AlertManager(
            collector,
            [AlertRule("Deep", "queue_depth", ">", 100)],
            notifiers=[enrich, lambda alert: received.append(dict(alert.labels))],
            clock=ManualClock(),
        )
        manager.evaluate_once()
    assert received == [{"severity": "warning"}]


def test_summary_quantiles_given_as_one_number_are_refused_with_a_clear_error() -> None:
    """``quantiles=0.95`` (not a list) raises ``InvalidValueError`` naming the value, not a bare TypeError."""
    with MetricsCollector() as collector:
        with pytest.raises(InvalidValueError, match=r"quantiles must be a list.*got 0.95"):
            collector.summary("rpc_seconds", quantiles=0.95)  # type: ignore[arg-type]
        with pytest.raises(InvalidValueError, match=r"quantiles must be a list.*got '0.95'"):
            collector.summary("rpc_seconds", quantiles="0.95")


def test_a_camel_case_label_name_is_told_to_be_renamed_not_dropped() -> None:
    """The fix offered for a camelCase label name is ``MetricFilter.rename_label``, not a cardinality cap."""
    with MetricsCollector(strict=True) as collector, pytest.raises(InvalidLabelError) as caught:
        collector.gauge("queue_items", labels={"requestPath": "/a"})
    message = str(caught.value)
    assert "MetricFilter.rename_label('requestPath', 'request_path')" in message
    assert "cap_label_values" not in message


def test_lint_warns_about_an_id_like_value_as_the_collector_does(caplog: pytest.LogCaptureFixture) -> None:
    """One UUID label value: the collector warns at creation and ``lint`` of its page warns about the same label."""
    storage = PrometheusStorage(scope_labels=False)
    with caplog.at_level(logging.WARNING, logger="rfs_otel"), MetricsCollector(storage=storage) as collector:
        collector.counter("shop_hits_total", "Hits", labels={"item": "3f2b1c9e-8a4d-4e2a-9c1f-1234567890ab"}).inc()
        page = storage.exposition().decode()
    assert any("'item' has an id-like value" in record.getMessage() for record in caplog.records)
    problems = [str(p) for p in lint_exposition(page) if p.metric == "shop_hits_total"]
    assert any("label 'item' has an id-like value" in p for p in problems), problems


def test_record_summary_observes_into_a_summary_defined_with_its_own_window() -> None:
    """Asked again with every layout argument at its default (as record_summary does), a summary keeps its layout."""
    from rfs_otel import record_summary, set_metrics_collector

    with MetricsCollector() as collector:
        custom = collector.summary("job_seconds", max_age=60, quantiles=(0.5,), export="histogram_and_gauges")
        previous = set_metrics_collector(collector)
        try:
            record_summary("job_seconds", 2.0)
            record_summary("job_seconds", 4.0, labels=None)
        finally:
            set_metrics_collector(previous)
        assert collector.summary("job_seconds") is custom
        assert custom.get_statistics()["count"] == 2


def test_a_summary_asked_again_with_another_export_is_a_conflict_naming_both() -> None:
    """A different export= is refused like a different window, not silently ignored."""
    with MetricsCollector() as collector:
        collector.summary("lat_seconds")
        with pytest.raises(MetricConflictError, match="export='histogram_and_gauges'"):
            collector.summary("lat_seconds", export="histogram_and_gauges")
        collector.summary("old_seconds", max_age=60, export="histogram_and_gauges")
        with pytest.raises(MetricConflictError, match="export='histogram_and_gauges'"):
            collector.summary("old_seconds", max_age=60)


def test_get_sample_value_reads_a_legacy_summary_as_it_is_exposed() -> None:
    """export="histogram_and_gauges": the _pNN gauges are read, {quantile} samples (not exposed) are None."""
    with MetricsCollector() as collector:
        collector.summary("lat", unit="s", export="histogram_and_gauges", quantiles=(0.5, 0.999)).observe(0.2)
        assert collector.get_sample_value("lat_p50_seconds") == 0.2
        assert collector.get_sample_value("lat_p99_9") == 0.2
        assert collector.get_sample_value("lat_p99.9") is None
        assert collector.get_sample_value("lat_seconds", {"quantile": "0.5"}) is None
        assert collector.get_sample_value("lat_seconds_count") == 1.0
        collector.summary("native", unit="s").observe(0.3)
        assert collector.get_sample_value("native_p50_seconds") is None
        assert collector.get_sample_value("native_seconds", {"quantile": "0.5"}) == 0.3
