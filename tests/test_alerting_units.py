"""Units of the alerting package: named burn windows, the one good/total computation, the alert step, and
Prometheus rule names taken from the exposition's own name mapping."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest

from rfs_otel import SLO, AlertManager, AlertRule, MetricsCollector, PrometheusStorage, to_prometheus_rules
from rfs_otel._alerting.model import Alert, AlertState, advance
from rfs_otel._alerting.rules import BURN_RATE_WINDOWS, LONGEST_BURN_WINDOW, BurnWindow
from rfs_otel._alerting.signals import Signals
from rfs_otel._alerting.slo import (
    SloMeter,
    budget_remaining,
    burn_alert_annotations,
    burn_alert_labels,
    burn_alert_name,
    burn_rate,
    good_total,
)
from rfs_otel.testing import ManualClock

FAST, SLOW = BURN_RATE_WINDOWS


def test_burn_windows_are_the_sre_workbook_pairs_by_name() -> None:
    """The fast pair is 1 h & 5 min at 14.4x (critical), the slow one 6 h & 30 min at 6x (warning)."""
    assert (FAST.name, FAST.long_window, FAST.short_window, FAST.burn_rate, FAST.severity) == (
        "fast",
        3600.0,
        300.0,
        14.4,
        "critical",
    )
    assert (SLOW.name, SLOW.long_window, SLOW.short_window, SLOW.burn_rate, SLOW.severity) == (
        "slow",
        21600.0,
        1800.0,
        6.0,
        "warning",
    )


def test_burn_windows_are_immutable() -> None:
    """A BurnWindow cannot be changed after creation, so the shared pairs stay as published."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        FAST.burn_rate = 1.0  # type: ignore[misc]


def test_longest_burn_window_is_the_slow_long_window() -> None:
    """Histories keep every sample as far back as the longest window any burn alert reads."""
    assert LONGEST_BURN_WINDOW == 21600.0


def test_burn_alert_names_labels_and_annotations() -> None:
    """A burn alert is named <slo>_burn_rate_<window> and carries the window's severity and the SLO's labels."""
    slo = SLO("checkout", objective=0.99, good="ok_total", total="all_total", labels={"team": "shop"})
    assert burn_alert_name(slo, FAST) == "checkout_burn_rate_fast"
    assert burn_alert_labels(slo, SLOW) == {"severity": "warning", "slo": "checkout", "team": "shop"}
    assert burn_alert_annotations(slo, FAST) == {"summary": "SLO checkout burning error budget 14.4x too fast"}


def test_evaluator_and_prometheus_rules_name_burn_alerts_alike(collector: MetricsCollector) -> None:
    """The in-process alerts and the rendered Prometheus rules carry the same burn alert names."""
    slo = SLO("checkout", objective=0.99, good="ok_total", total="all_total")
    manager = AlertManager(collector, [slo])
    rendered = re.findall(r'- alert: "([^"]+)"', to_prometheus_rules([slo], collector))
    assert rendered == [a.name for a in manager.alerts()] == ["checkout_burn_rate_fast", "checkout_burn_rate_slow"]


def test_burn_rate_is_the_bad_share_over_the_budget() -> None:
    """2% bad events against a 1% budget burn it 2x as fast as allowed."""
    assert burn_rate(980, 1000, 0.01) == pytest.approx(2.0)


def test_burn_rate_without_traffic_is_nan() -> None:
    """No events (or an unknown total) give no burn rate."""
    assert math.isnan(burn_rate(0, 0, 0.01))
    assert math.isnan(burn_rate(math.nan, math.nan, 0.01))


def test_budget_remaining_is_one_minus_the_burn_rate() -> None:
    """Half a budget burned leaves half; burning twice the budget leaves minus one."""
    assert budget_remaining(995, 1000, 0.01) == pytest.approx(0.5)
    assert budget_remaining(980, 1000, 0.01) == pytest.approx(1.0 - burn_rate(980, 1000, 0.01))


def test_budget_remaining_without_traffic_is_untouched() -> None:
    """No events in the window spend no budget."""
    assert budget_remaining(0, 0, 0.01) == 1.0


def test_good_total_reads_the_two_counters(collector: MetricsCollector) -> None:
    """A counters SLO's good and total are its counters' values, filtered by the SLO's labels."""
    collector.counter("ok_total", labels={"svc": "a"}).increment(7)
    collector.counter("ok_total", labels={"svc": "b"}).increment(100)
    collector.counter("all_total", labels={"svc": "a"}).increment(10)
    slo = SLO("s", good="ok_total", total="all_total", labels={"svc": "a"})
    assert good_total(slo, Signals(collector)) == (7.0, 10.0)


def test_good_total_of_a_latency_slo_counts_fast_observations(collector: MetricsCollector) -> None:
    """A latency SLO's good events are observations in buckets up to the threshold; total is all of them."""
    histogram = collector.histogram("latency_seconds", buckets=[0.1, 0.25, 0.5])
    for value in (0.05, 0.2, 0.25, 0.4, 3.0):
        histogram.observe(value)
    slo = SLO("lat", latency_metric="latency_seconds", latency_threshold=0.25)
    assert good_total(slo, Signals(collector)) == (3.0, 5.0)


def test_good_total_of_a_latency_slo_without_its_histogram_is_none(collector: MetricsCollector) -> None:
    """Until the histogram exists there is nothing to count (no sample is recorded)."""
    slo = SLO("lat", latency_metric="latency_seconds", latency_threshold=0.25)
    assert good_total(slo, Signals(collector)) is None


def _meter_with_traffic(collector: MetricsCollector, error_shares: list[float]) -> tuple[SloMeter, float]:
    """A counters SLO over one hour, fed 1000 events a minute with the given error share per minute."""
    good, total = collector.counter("ok_total"), collector.counter("all_total")
    meter = SloMeter(SLO("s", objective=0.99, window=3600, good="ok_total", total="all_total"), Signals(collector))
    now = 0.0
    meter.burn_value(FAST, now)
    for share in error_shares:
        now += 60
        total.increment(1000)
        good.increment(round(1000 * (1 - share)))
        meter.burn_value(FAST, now)
    return meter, now


def test_burn_value_is_the_lesser_of_long_and_short_windows(collector: MetricsCollector) -> None:
    """55 clean minutes then 5 at 20% errors: the 5 min window burns 20x, the hour 20/12x; the alert sees 20/12."""
    meter, now = _meter_with_traffic(collector, [0.0] * 55 + [0.2] * 5)
    assert meter.burn_value(FAST, now) == pytest.approx(20.0 * 5 / 60)


def test_budget_and_burn_rate_share_one_good_total(collector: MetricsCollector) -> None:
    """Over the SLO's own window the budget left is exactly one minus the burn rate over that window."""
    meter, now = _meter_with_traffic(collector, [0.005] * 60)
    left = meter.budget_remaining(now)
    assert left == pytest.approx(0.5)
    window = BurnWindow("whole", long_window=3600, short_window=3600, burn_rate=1.0, severity="info")
    assert left == pytest.approx(1.0 - meter.burn_value(window, now))


def test_budget_remaining_before_any_sample_is_nan(collector: MetricsCollector) -> None:
    """Nothing recorded yet: the budget left is unknown, not full."""
    collector.counter("ok_total")
    collector.counter("all_total")
    meter = SloMeter(SLO("s", good="ok_total", total="all_total"), Signals(collector))
    assert math.isnan(meter.budget_remaining(0.0))


def test_advance_pends_then_fires_after_for_seconds() -> None:
    """A holding condition pends first and fires (notifying) once for_seconds have passed."""
    alert = Alert("a")
    assert advance(alert, True, 0.0, for_seconds=10, repeat_interval=None) is False
    assert alert.state is AlertState.PENDING
    assert advance(alert, True, 10.0, for_seconds=10, repeat_interval=None) is True
    assert (alert.state, alert.started_at) == (AlertState.FIRING, 10.0)


def test_advance_resolves_then_goes_inactive() -> None:
    """A firing alert whose condition stops holding resolves (notifying), then returns to inactive silently."""
    alert = Alert("a")
    advance(alert, True, 0.0, for_seconds=0, repeat_interval=None)
    assert advance(alert, False, 5.0, for_seconds=0, repeat_interval=None) is True
    assert (alert.state, alert.ended_at) == (AlertState.RESOLVED, 5.0)
    assert advance(alert, False, 6.0, for_seconds=0, repeat_interval=None) is False
    assert alert.state is AlertState.INACTIVE


def test_advance_repeats_while_firing() -> None:
    """repeat_interval re-notifies a still-firing alert once that long has passed since the last notice."""
    alert = Alert("a")
    advance(alert, True, 0.0, for_seconds=0, repeat_interval=30)
    assert advance(alert, True, 29.0, for_seconds=0, repeat_interval=30) is False
    assert advance(alert, True, 30.0, for_seconds=0, repeat_interval=30) is True


def test_prometheus_rule_names_are_the_exposed_names() -> None:
    """Rules on unit-suffixed metrics name exactly the samples PrometheusStorage exposes."""
    storage = PrometheusStorage()
    with MetricsCollector(storage=storage, clock=ManualClock()) as collector:
        collector.summary("checkout", unit="s").observe(1.0)
        collector.counter("reqs_total", unit="s").increment()
        collector.gauge("memory", unit="By").set(3)
        collector.histogram("lat", unit="ms").observe(3.0)
        rules = [
            AlertRule("a", "checkout", ">", 1, aggregation="quantile", quantile=0.95),
            AlertRule("b", "reqs_total", ">", 1, aggregation="rate"),
            AlertRule("c", "memory", ">", 1),
            AlertRule("d", "lat", ">", 1, aggregation="quantile"),
        ]
        text = to_prometheus_rules(rules, collector)
        page = storage.exposition().decode()
    exposed = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", page, flags=re.MULTILINE))
    used = set(re.findall(r"\b([a-z0-9_]+_(?:seconds|bytes|milliseconds)[a-z_]*)\b", text))
    assert used == {"checkout_seconds", "reqs_seconds_total", "memory_bytes", "lat_milliseconds_bucket"}
    assert 'checkout_seconds{quantile=\\"0.95\\"}' in text  # the native summary's quantile sample (YAML-quoted)
    assert used <= exposed
