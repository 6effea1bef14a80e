"""Hostile input: arbitrary names, label values and amounts either raise a clear ValueError or round-trip."""

from __future__ import annotations

import math
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from rfs_otel import FileMetricsStorage, InvalidValueError, MetricError, MetricsCollector, PrometheusStorage

from .servers import promtool_check_metrics

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
LABEL_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200) | st.sampled_from(
    ['"quoted"', "back\\slash", "new\nline", "", "x" * 5000, "<script>alert(1)</script>", "\u0000nul", "tab\there"]
)


def _otlp_attributes(storage: FileMetricsStorage, name: str) -> list[dict[str, str]]:
    [snapshot] = list(storage.read_all())[-1:]
    out = []
    for rm in snapshot.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    kind = metric.WhichOneof("data")
                    for point in getattr(metric, kind).data_points:
                        out.append({kv.key: kv.value.string_value for kv in point.attributes})
    return out


@SETTINGS
@given(value=LABEL_TEXT)
def test_any_label_value_round_trips_through_prometheus_and_otlp(value: str) -> None:
    """Unicode, quotes, backslashes, newlines, empty and very long values: promtool accepts, both round-trip."""
    with tempfile.TemporaryDirectory() as tmp:
        prometheus = PrometheusStorage(scope_labels=False, target_info=False)
        file = FileMetricsStorage(Path(tmp) / "m.jsonl")
        with MetricsCollector(storage=[prometheus, file]) as collector:
            collector.counter("hostile_requests_total", "Requests", labels={"path": value}).increment()
            text = prometheus.exposition()
            assert collector.collect_and_store_sync().is_success()
            assert _otlp_attributes(file, "hostile_requests_total") == [{"path": value}]
    check = promtool_check_metrics(text)
    assert check.returncode == 0, check.stdout + check.stderr
    [family] = [f for f in text_string_to_metric_families(text.decode()) if f.name == "hostile_requests"]
    assert family.samples[0].labels["path"] == value


@SETTINGS
@given(name=st.text(max_size=60))
def test_any_metric_name_is_refused_or_exposed(name: str) -> None:
    """A name is refused with MetricError, or exposed so that promtool parses it (at most linting the name)."""
    prometheus = PrometheusStorage(scope_labels=False, target_info=False)
    with MetricsCollector(storage=prometheus) as collector:
        try:
            collector.gauge(name, "Hostile name").set(1)
        except MetricError as exc:
            assert repr(name)[:15] in str(exc) or "characters long" in str(exc)
            return
        text = prometheus.exposition()
    check = promtool_check_metrics(text)
    # Always a valid exposition (a parse error is exit code 1). promtool may still lint the *user's* choice of
    # name (exit code 3: camelCase, a gauge ending in _total or _count, milliseconds): conventions, not damage.
    assert check.returncode in (0, 3), check.stdout + check.stderr
    assert "error while linting" not in check.stdout + check.stderr
    if check.returncode == 3:
        assert all(line.startswith(name) for line in (check.stdout + check.stderr).strip().splitlines())


AMOUNTS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.none(),
)


def _accepted(value: Any) -> float | None:
    """The float a recording accepts, or None when it must be refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    if isinstance(value, int):
        return float(value) if -(2**63) < value < 2**63 else None
    try:
        number = float(value)
    except ValueError:  # signaling NaN
        return None
    return number if math.isfinite(number) else None


@SETTINGS
@given(amount=AMOUNTS)
def test_any_histogram_observation_is_refused_or_exported(amount: Any) -> None:
    """NaN, infinities, bool, non-numbers and ints past int64 raise InvalidValueError; the rest export exactly."""
    with tempfile.TemporaryDirectory() as tmp:
        file = FileMetricsStorage(Path(tmp) / "m.jsonl")
        with MetricsCollector(storage=file) as collector:
            histogram = collector.histogram("hostile_seconds")
            expected = _accepted(amount)
            if expected is None:
                with pytest.raises(InvalidValueError):
                    histogram.observe(amount)
                assert histogram.get_value()["count"] == 0
                return
            histogram.observe(amount)
            assert collector.collect_and_store_sync().is_success()
            [snapshot] = list(file.read_all())[-1:]
            point = snapshot.resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points[0]
            assert point.count == 1
            assert point.sum == pytest.approx(expected, rel=1e-12, abs=0)


@SETTINGS
@given(amount=AMOUNTS)
def test_any_counter_step_is_refused_or_exported(amount: Any) -> None:
    """Counter steps: non-negative accepted amounts export through OTLP; everything else is refused."""
    with tempfile.TemporaryDirectory() as tmp:
        file = FileMetricsStorage(Path(tmp) / "m.jsonl")
        with MetricsCollector(storage=file) as collector:
            counter = collector.counter("hostile_total")
            expected = _accepted(amount)
            if expected is None or expected < 0:
                with pytest.raises(InvalidValueError):
                    counter.increment(amount)
                return
            counter.increment(amount)
            assert collector.collect_and_store_sync().is_success()
            [snapshot] = list(file.read_all())[-1:]
            point = snapshot.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0]
            exported = point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
            assert exported == pytest.approx(expected, rel=1e-12, abs=0)


def test_numpy_scalars_are_accepted_as_numbers() -> None:
    """numpy integer and float scalars record like Python numbers (when numpy is installed)."""
    np = pytest.importorskip("numpy")
    with MetricsCollector() as collector:
        collector.counter("np_total").increment(np.int64(3))
        collector.histogram("np_seconds").observe(np.float32(0.25))
        collector.gauge("np_gauge").set(np.float64(1.5))
        with pytest.raises(InvalidValueError):
            collector.histogram("np_seconds").observe(np.float64("nan"))
        values = {m.name: m.value for m in collector.snapshot()}
    assert values["np_total"] == 3
    assert values["np_seconds"]["sum"] == 0.25
    assert values["np_gauge"] == 1.5


def test_counter_total_past_int64_is_exported_as_a_float(tmp_path: Path) -> None:
    """Many large integer steps can pass 2**63; the total is then exported as a float, never an encoder error."""
    file = FileMetricsStorage(tmp_path / "m.jsonl")
    with MetricsCollector(storage=file) as collector:
        counter = collector.counter("bytes_total")
        for _ in range(4):
            counter.increment(2**62)
        assert counter.get_value() == float(2**64)
        assert collector.collect_and_store_sync().is_success()
