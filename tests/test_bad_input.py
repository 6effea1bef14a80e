"""Bad input: a clear ValueError naming the metric and the value; nothing recorded, nothing else lost."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfs_otel import (
    InvalidLabelError,
    InvalidMetricNameError,
    InvalidValueError,
    MetricConflictError,
    MetricsCollector,
)


@pytest.mark.parametrize("amount", [-1, -0.5])
def test_counter_cannot_decrease(collector: MetricsCollector, amount: float) -> None:
    """A negative step is refused with the metric and call in the message."""
    counter = collector.counter("jobs_total")
    counter.increment(2)
    with pytest.raises(InvalidValueError, match=rf"counter 'jobs_total' cannot decrease: increment\({amount}\)"):
        counter.increment(amount)
    assert counter.get_value() == 2


@pytest.mark.parametrize("amount", [math.nan, math.inf, -math.inf])
def test_counter_refuses_non_finite_steps(collector: MetricsCollector, amount: float) -> None:
    """NaN and infinities would poison the total forever, so they are refused."""
    counter = collector.counter("jobs_total")
    with pytest.raises(InvalidValueError, match="counter 'jobs_total' takes a finite number"):
        counter.increment(amount)
    assert counter.get_value() == 0


@pytest.mark.parametrize("amount", ["1", None, [1], True])
def test_counter_refuses_non_numbers(collector: MetricsCollector, amount: object) -> None:
    """Strings, None, lists and bool are not amounts."""
    counter = collector.counter("jobs_total")
    with pytest.raises(InvalidValueError, match="counter 'jobs_total' takes a real number"):
        counter.increment(amount)  # type: ignore[arg-type]
    assert counter.get_value() == 0


def test_counter_accepts_decimal(collector: MetricsCollector) -> None:
    """Other real numbers (Decimal) are converted, not refused."""
    counter = collector.counter("revenue_total")
    counter.increment(Decimal("2.5"))  # type: ignore[arg-type]
    assert counter.get_value() == 2.5


@pytest.mark.parametrize("value", [math.nan, math.inf, "fast", None])
def test_histogram_refuses_nan_inf_and_non_numbers(collector: MetricsCollector, value: object) -> None:
    """Histogram observations must be finite numbers; a refused one leaves the histogram unchanged."""
    h = collector.histogram("latency_seconds")
    h.observe(0.1)
    with pytest.raises(InvalidValueError, match="histogram 'latency_seconds'"):
        h.observe(value)  # type: ignore[arg-type]
    assert h.get_value()["count"] == 1
    assert h.get_value()["sum"] == 0.1


@pytest.mark.parametrize("value", [math.nan, -math.inf, "x"])
def test_summary_refuses_nan_inf_and_non_numbers(collector: MetricsCollector, value: object) -> None:
    """Summary observations must be finite numbers."""
    s = collector.summary("latency_seconds")
    with pytest.raises(InvalidValueError, match="summary 'latency_seconds'"):
        s.observe(value)  # type: ignore[arg-type]
    assert s.get_statistics()["count"] == 0


@pytest.mark.parametrize("value", [math.nan, "high", None])
def test_gauge_refuses_nan_and_non_numbers(collector: MetricsCollector, value: object) -> None:
    """Gauge values must be finite numbers too."""
    g = collector.gauge("temperature_celsius")
    g.set(21)
    with pytest.raises(InvalidValueError, match=r"gauge 'temperature_celsius'.*set"):
        g.set(value)  # type: ignore[arg-type]
    assert g.get_value() == 21


@pytest.mark.parametrize(
    "name", ["", "1requests", "-requests", "requests total", "ünïcode", "a" * 256, "_private", "job:rate5m", "a+b"]
)
def test_invalid_metric_names_are_refused(collector: MetricsCollector, name: str) -> None:
    """Names follow OTel's syntax, [a-zA-Z][a-zA-Z0-9_.\\-/]*, and are at most 255 characters."""
    with pytest.raises(InvalidMetricNameError, match="counter name"):
        collector.counter(name)


def test_metric_name_of_255_characters_is_accepted(collector: MetricsCollector) -> None:
    """The limit is inclusive."""
    assert collector.counter("a" * 255).get_value() == 0


def test_non_string_metric_name_is_refused(collector: MetricsCollector) -> None:
    """A name must be a str."""
    with pytest.raises(InvalidMetricNameError, match="must be a str, got 42"):
        collector.gauge(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["1abc", "a-b", "", "__reserved", "with space"])
def test_invalid_label_names_are_refused(collector: MetricsCollector, key: str) -> None:
    """Label names must match [a-zA-Z_][a-zA-Z0-9_.]* and not start with __."""
    with pytest.raises(InvalidLabelError, match="metric 'x_total': label name"):
        collector.counter("x_total", labels={key: "v"})


def test_le_label_is_reserved_on_histograms(collector: MetricsCollector) -> None:
    """'le' is the bucket label of a histogram."""
    with pytest.raises(InvalidLabelError, match="'le' is reserved"):
        collector.histogram("x_seconds", labels={"le": "1"})


def test_quantile_label_is_reserved_on_summaries(collector: MetricsCollector) -> None:
    """'quantile' is the quantile label of a summary."""
    with pytest.raises(InvalidLabelError, match="'quantile' is reserved"):
        collector.summary("x_seconds", labels={"quantile": "0.5"})


def test_le_label_is_fine_on_counters(collector: MetricsCollector) -> None:
    """Reserved names apply only where the kind uses them."""
    assert collector.counter("x_total", labels={"le": "1"}).labels == {"le": "1"}


def test_none_label_value_is_refused(collector: MetricsCollector) -> None:
    """None is not a label value (it would silently become 'None')."""
    with pytest.raises(InvalidLabelError, match="label 'user' has value None"):
        collector.counter("x_total", labels={"user": None})


def test_non_string_label_values_are_converted(collector: MetricsCollector) -> None:
    """Numbers become their str() form."""
    assert collector.counter("x_total", labels={"status_code": 200}).labels == {"status_code": "200"}


def test_unhashable_label_value_is_refused(collector: MetricsCollector) -> None:
    """A list is neither a str nor a number."""
    with pytest.raises(InvalidLabelError, match=r"label 'ids' has value \[1\]"):
        collector.counter("x_total", labels={"ids": [1]})


def test_per_call_gauge_labels_are_validated(collector: MetricsCollector) -> None:
    """Per-call labels go through the same checks as constant labels."""
    with pytest.raises(InvalidLabelError, match="label name 'bad-key'"):
        collector.gauge("x").set(1, labels={"bad-key": "v"})


@pytest.mark.parametrize(
    ("buckets", "message"),
    [
        ([1.0, 0.5], "strictly increasing, got 1.0 then 0.5"),
        ([0.1, 0.1], "strictly increasing"),
        ([0.1, math.nan], "not finite"),
        ([], "at least one"),
        (["a"], "sequence of numbers"),
        ("0.1", "sequence of numbers"),
    ],
)
def test_invalid_buckets_are_refused(collector: MetricsCollector, buckets: object, message: str) -> None:
    """Buckets must be finite, strictly increasing numbers."""
    with pytest.raises(InvalidValueError, match=message):
        collector.histogram("x_seconds", buckets=buckets)  # type: ignore[arg-type]


def test_trailing_inf_bucket_is_accepted(collector: MetricsCollector) -> None:
    """A trailing +Inf (as prometheus_client users write) is implied and dropped."""
    assert collector.histogram("x_seconds", buckets=[0.1, 1.0, math.inf]).buckets == (0.1, 1.0)


@pytest.mark.parametrize("q", [-0.1, 1.1, math.nan, "p95"])
def test_quantile_outside_zero_one_is_refused(collector: MetricsCollector, q: object) -> None:
    """get_quantile(q) needs q in [0, 1]."""
    h = collector.histogram("x_seconds")
    with pytest.raises(InvalidValueError, match="quantile must be"):
        h.get_quantile(q)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_age", 0), ("max_age", -5), ("max_samples", 0), ("max_samples", 1.5), ("max_samples", "10")],
)
def test_summary_window_must_be_positive(collector: MetricsCollector, field: str, value: object) -> None:
    """max_age and max_samples must be positive (max_samples an integer)."""
    with pytest.raises(InvalidValueError, match=rf"summary 'x_seconds': {field} must be a positive"):
        collector.summary("x_seconds", **{field: value})  # type: ignore[arg-type]


def test_summary_quantiles_are_validated(collector: MetricsCollector) -> None:
    """Each configured quantile must lie in [0, 1]."""
    with pytest.raises(InvalidValueError, match="quantile must be in"):
        collector.summary("x_seconds", quantiles=(0.5, 1.5))


def test_bad_call_leaves_other_series_untouched(collector: MetricsCollector) -> None:
    """A refused call on one series does not disturb another."""
    good = collector.counter("good_total")
    good.increment(3)
    with pytest.raises(InvalidValueError):
        collector.counter("bad_total").increment(-1)
    assert good.get_value() == 3


@given(st.text(max_size=40))
def test_any_name_is_either_valid_or_refused_clearly(name: str) -> None:
    """Arbitrary text never crashes: it makes a counter or raises InvalidMetricNameError."""
    with MetricsCollector() as c:
        try:
            c.counter(name).increment()
        except InvalidMetricNameError as exc:
            assert repr(name)[:20] in str(exc) or "characters long" in str(exc) or "must be a str" in str(exc)
        except MetricConflictError as exc:  # a name reserved for the exporter's own metrics (``target``)
            assert repr(name) in str(exc) and "reserved" in str(exc)
        else:
            assert c.counter(name).get_value() == 1


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3))
def test_any_labels_are_either_valid_or_refused_clearly(labels: dict[str, str]) -> None:
    """Arbitrary label dicts never crash: a series or InvalidLabelError."""
    with MetricsCollector() as c:
        try:
            series = c.counter("x_total", labels=labels)
        except InvalidLabelError:
            return
        assert series.labels == labels


@given(st.one_of(st.floats(), st.integers(min_value=-(10**6), max_value=10**6), st.booleans(), st.text(max_size=3)))
def test_any_amount_is_either_recorded_or_refused_clearly(amount: object) -> None:
    """Counter steps: a non-negative finite number is recorded exactly, anything else raises InvalidValueError."""
    with MetricsCollector() as c:
        counter = c.counter("x_total")
        try:
            counter.increment(amount)  # type: ignore[arg-type]
        except InvalidValueError:
            assert counter.get_value() == 0
        else:
            assert counter.get_value() == amount
