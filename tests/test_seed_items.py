"""The seed's remaining cautions: alert snapshots, read-only lookups, no phantom series, per-call labels."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from rfs_otel import (
    Alert,
    AlertManager,
    AlertRule,
    AlertState,
    MetricsCollector,
    PrometheusStorage,
    Summary,
    to_prometheus_rules,
)
from rfs_otel.testing import ManualClock

from .forking import FORK_WARNING
from .servers import promtool_check_rules


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


def test_get_sample_value_reads_without_creating(collector: MetricsCollector) -> None:
    """get_sample_value returns an existing series' value, None for an absent one, and creates no series."""
    collector.counter("requests_total", labels={"status": "ok"}).increment(3)
    assert collector.get_sample_value("requests_total", {"status": "ok"}) == 3
    assert collector.get_sample_value("requests_total", {"status": "okk"}) is None
    assert collector.get_sample_value("no_such_metric") is None
    assert collector.series_count() == 1
    assert [m.labels for m in collector.snapshot()] == [{"status": "ok"}]


def test_get_sample_value_knows_prometheus_sample_names(collector: MetricsCollector) -> None:
    """Histogram _count/_sum/_bucket{le}, summary _count/{quantile} and a counter's _total sample are found."""
    latency = collector.histogram("latency_seconds", buckets=[0.1, 1], labels={"route": "/"})
    latency.observe(0.05)
    latency.observe(0.5)
    collector.summary("size_bytes", quantiles=[0.5]).observe(10)
    collector.counter("jobs").increment()
    assert collector.get_sample_value("latency_seconds_count", {"route": "/"}) == 2
    assert collector.get_sample_value("latency_seconds_sum", {"route": "/"}) == 0.55
    assert collector.get_sample_value("latency_seconds_bucket", {"route": "/", "le": "0.1"}) == 1
    assert collector.get_sample_value("latency_seconds_bucket", {"route": "/", "le": "+Inf"}) == 2
    assert collector.get_sample_value("latency_seconds_bucket", {"route": "/", "le": "0.3"}) is None
    assert collector.get_sample_value("size_bytes", {"quantile": "0.5"}) == 10
    assert collector.get_sample_value("size_bytes_count") == 1
    assert collector.get_sample_value("jobs_total") == 1


@FORK_WARNING
def test_get_sample_value_sums_workers_in_multiprocess_mode(tmp_path: Path) -> None:
    """In multiprocess mode the sample is read as an export reads it: a forked worker's count is included."""
    with MetricsCollector(multiprocess_dir=tmp_path) as collector:
        hits = collector.counter("hits_total")
        hits.increment(2)
        pid = os.fork()
        if pid == 0:  # child: record, then exit without any flush
            hits.increment(5)
            os._exit(0)
        os.waitpid(pid, 0)
        assert collector.get_sample_value("hits_total") == 7
        assert collector.get_sample_value("hits_total", {"a": "b"}) is None


def test_no_phantom_unlabelled_series(collector: MetricsCollector) -> None:
    """A gauge created without labels and set per product exports only the products, not a bare 0 series."""
    inventory = collector.gauge("inventory_remaining")
    inventory.set(3, labels={"product_id": "a"})
    inventory.set(13, labels={"product_id": "b"})
    assert [m.labels for m in collector.snapshot()] == [{"product_id": "a"}, {"product_id": "b"}]
    assert collector.get_sample_value("inventory_remaining") is None
    inventory.set(0)
    assert collector.get_sample_value("inventory_remaining") == 0


def test_unlabelled_metrics_alone_still_export_zero(collector: MetricsCollector) -> None:
    """A metric with only its unlabelled series is exported at zero before anything is recorded."""
    collector.counter("errors_total")
    collector.histogram("job_seconds", buckets=[1])
    assert {m.name for m in collector.snapshot()} == {"errors_total", "job_seconds"}


def test_no_phantom_series_in_the_prometheus_exposition() -> None:
    """The scrape page carries inventory_remaining{product_id="a"} and no product_id="" line."""
    storage = PrometheusStorage(port=0)
    with MetricsCollector(storage=storage) as collector:
        inventory = collector.gauge("inventory_remaining")
        inventory.set(3, labels={"product_id": "a"})
        page = storage.exposition().decode()
    assert 'product_id="a"} 3.0' in page
    assert 'product_id=""' not in page


def test_no_phantom_series_in_multiprocess_mode(tmp_path: Path) -> None:
    """In multiprocess mode the bare series of a per-call-labelled gauge and counter is not exported either."""
    with MetricsCollector(multiprocess_dir=tmp_path) as collector:
        collector.gauge("inventory_remaining").set(3, labels={"product_id": "a"})
        collector.counter("sold_total").with_labels({"product_id": "a"}).increment()
        assert sorted((m.name, tuple(m.labels.items())) for m in collector.snapshot()) == [
            ("inventory_remaining", (("product_id", "a"),)),
            ("sold_total", (("product_id", "a"),)),
        ]


def test_alert_rules_evaluate_per_series(collector: MetricsCollector) -> None:
    """inventory_remaining < 5 fires for the one product below 5, with its labels, though the sum is 16."""
    inventory = collector.gauge("inventory_remaining")
    inventory.set(3, labels={"product_id": "a"})
    inventory.set(13, labels={"product_id": "b"})
    received: list[Alert] = []
    manager = AlertManager(collector, [AlertRule("low_stock", "inventory_remaining", "<", 5)], [received.append])
    [alert] = manager.evaluate_once()
    assert (alert.state, alert.value, alert.labels["product_id"]) == (AlertState.FIRING, 3, "a")
    assert [a.labels.get("product_id") for a in received] == ["a"]
    inventory.set(20, labels={"product_id": "a"})
    assert manager.evaluate_once() == []
    assert [(a.state, a.labels["product_id"]) for a in received][-1] == (AlertState.RESOLVED, "a")
    assert collector.get_sample_value("rfs_alerts_firing", {"alertname": "low_stock"}) == 0


def test_alert_rules_group_with_by(collector: MetricsCollector) -> None:
    """by=() sums every matching series into one alert; by=("region",) gives one alert per region."""
    stock = collector.gauge("stock")
    for region, product, amount in [("eu", "a", 1), ("eu", "b", 2), ("us", "a", 10)]:
        stock.set(amount, labels={"region": region, "product_id": product})
    total = AlertRule("total_low", "stock", "<", 20, by=())
    regional = AlertRule("region_low", "stock", "<", 5, by=["region"])
    manager = AlertManager(collector, [total, regional])
    fired = {(a.name, a.labels.get("region"), a.value) for a in manager.evaluate_once()}
    assert fired == {("total_low", None, 13), ("region_low", "eu", 3)}


def test_per_series_rules_export_as_prometheus_rules(collector: MetricsCollector, tmp_path: Path) -> None:
    """to_prometheus_rules writes a bare selector per series, sum by (keys) for by=, sum() for by=(): promtool OK."""
    collector.gauge("inventory_remaining").set(3, labels={"product_id": "a"})
    rules = [
        AlertRule("low_stock", "inventory_remaining", "<", 5),
        AlertRule("low_region", "inventory_remaining", "<", 5, by=["region"]),
        AlertRule("low_total", "inventory_remaining", "<", 5, by=()),
    ]
    text = to_prometheus_rules(rules, collector)
    assert '"inventory_remaining < 5.0"' in text
    assert '"sum by (region) (inventory_remaining) < 5.0"' in text
    assert '"sum(inventory_remaining) < 5.0"' in text
    path = tmp_path / "rules.yml"
    path.write_text(text)
    result = promtool_check_rules(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_per_call_labels_on_counter_and_histogram(collector: MetricsCollector) -> None:
    """increment(labels=) and observe(labels=) reach the child series, merged over the bound labels, and cache it."""
    requests = collector.counter("requests_total", labels={"service": "api"})
    requests.increment(labels={"status": "ok"})
    requests.increment(2, labels={"status": "ok"})
    latency = collector.histogram("latency_seconds", buckets=[1])
    latency.observe(0.5, labels={"route": "/"})
    assert collector.get_sample_value("requests_total", {"service": "api", "status": "ok"}) == 3
    assert collector.get_sample_value("latency_seconds_count", {"route": "/"}) == 1
    assert requests.child({"status": "ok"}) is requests.child({"status": "ok"})
    assert requests.child({"status": "ok"}) is collector.counter(
        "requests_total", labels={"service": "api", "status": "ok"}
    )
    assert requests.get_value() == 0


def test_per_call_labels_in_multiprocess_mode(tmp_path: Path) -> None:
    """In multiprocess mode increment(labels=) reaches the child series too."""
    with MetricsCollector(multiprocess_dir=tmp_path) as collector:
        collector.counter("sold_total").increment(4, labels={"product_id": "a"})
        assert collector.get_sample_value("sold_total", {"product_id": "a"}) == 4


def test_redefining_with_another_description_warns(
    collector: MetricsCollector, caplog: pytest.LogCaptureFixture
) -> None:
    """A second counter("x", description=...) with a different description logs one warning naming both."""
    collector.counter("jobs_total", "Jobs done").increment()
    with caplog.at_level(logging.WARNING, logger="rfs_otel"):
        collector.counter("jobs_total", "Jobs finished").increment()
        collector.counter("jobs_total", "Jobs finished").increment()
        collector.counter("jobs_total", "Jobs done").increment()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "'Jobs done'" in warnings[0] and "'Jobs finished'" in warnings[0]
    assert collector.get_sample_value("jobs_total") == 4


def test_series_with_other_label_names_warn(collector: MetricsCollector, caplog: pytest.LogCaptureFixture) -> None:
    """A series whose label names differ from the metric's first labelled series logs one warning."""
    with caplog.at_level(logging.WARNING, logger="rfs_otel"):
        collector.counter("jobs_total", labels={"queue": "mail"}).increment()
        collector.counter("jobs_total", labels={"queue": "sms"}).increment()
        assert caplog.records == []
        collector.counter("jobs_total", labels={"queu": "push"}).increment()
        collector.counter("jobs_total", labels={"kind": "x"}).increment()
    [warning] = [r.getMessage() for r in caplog.records]
    assert "['queue']" in warning and "['queu']" in warning


def test_series_adding_an_optional_label_do_not_warn(
    collector: MetricsCollector, caplog: pytest.LogCaptureFixture
) -> None:
    """Optional labels (OTel's conditionally required attributes, e.g. error.type) added or left out warn nothing."""
    with caplog.at_level(logging.WARNING, logger="rfs_otel"):
        collector.counter("calls_total", labels={"route": "/a"}).increment()
        collector.counter("calls_total", labels={"route": "/a", "error.type": "ValueError"}).increment()
        collector.counter("calls_total", labels={"route": "/b"}).increment()
    assert caplog.records == []
    assert collector.get_sample_value("calls_total", {"route": "/a", "error.type": "ValueError"}) == 1


def test_multiprocess_summary_honours_the_clock_and_is_a_summary(tmp_path: Path) -> None:
    """In multiprocess mode a summary is an rfs_otel.Summary and its window ages by the collector's clock."""
    clock = ManualClock()
    with MetricsCollector(multiprocess_dir=tmp_path, clock=clock) as collector:
        summary = collector.summary("size_bytes", max_age=60)
        assert isinstance(summary, Summary)
        summary.observe(5)
        assert summary.get_statistics()["count"] == 1
        clock.advance(61)
        summary.observe(7)
        assert summary.window() == [7]
