"""Adversarial names: text UTF-8 cannot carry and names that collide once exported are refused at creation."""

from __future__ import annotations

import os
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.prometheus import _mapping
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from rfs_otel import (
    FileMetricsStorage,
    InvalidLabelError,
    InvalidMetricNameError,
    MemoryMetricsStorage,
    MetricConflictError,
    MetricError,
    MetricFilter,
    MetricsCollector,
    PrometheusStorage,
)
from rfs_otel._model.names import map_unit, sanitize_name

from .servers import promtool_check_metrics

#: What ``bytes.decode("utf-8", "surrogateescape")`` makes of a Latin-1 path: a lone surrogate.
SURROGATE = b"/caf\xe9".decode("utf-8", "surrogateescape")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _assert_valid_exposition(storage: PrometheusStorage) -> None:
    """promtool parses the classic text (lint findings about naming style aside) and OpenMetrics parses too."""
    check = promtool_check_metrics(storage.exposition())
    output = check.stdout + check.stderr
    assert check.returncode in (0, 3), output  # 1 is a parse error; 3 is lint advice only
    assert "error while linting" not in output, output
    list(parse_openmetrics(openmetrics_latest(storage.registry).decode()))


# -- item 10: text that UTF-8 cannot encode ------------------------------------------------------------------


def test_lone_surrogate_in_a_label_value_is_refused() -> None:
    """A label value holding a lone surrogate raises InvalidLabelError naming the label and the value."""
    with (
        MetricsCollector() as collector,
        pytest.raises(InvalidLabelError, match=r"label 'path' has value '/caf\\udce9' cannot be encoded"),
    ):
        collector.counter("requests_total", labels={"path": SURROGATE})


def test_lone_surrogate_in_a_per_call_label_is_refused_and_records_nothing() -> None:
    """gauge.set(v, labels={...}) with a lone surrogate raises and creates no series."""
    with MetricsCollector() as collector:
        gauge = collector.gauge("queue_depth")
        with pytest.raises(InvalidLabelError, match="label 'queue'"):
            gauge.set(3, labels={"queue": SURROGATE})
        assert [m.labels for m in collector.snapshot()] == [{}]


def test_lone_surrogate_in_a_description_or_unit_is_refused() -> None:
    """Description and unit travel in every exporter's output, so a lone surrogate there is refused too."""
    with MetricsCollector() as collector:
        with pytest.raises(InvalidMetricNameError, match=r"counter 'jobs_total': description '/caf\\udce9'"):
            collector.counter("jobs_total", description=SURROGATE)
        with pytest.raises(InvalidMetricNameError, match=r"histogram 'latency': unit '/caf\\udce9'"):
            collector.histogram("latency", unit=SURROGATE)
        assert collector.families() == []


def test_lone_surrogate_in_a_name_is_refused() -> None:
    """Metric names are ASCII; one with a lone surrogate raises InvalidMetricNameError."""
    with MetricsCollector() as collector, pytest.raises(InvalidMetricNameError):
        collector.gauge("caf" + SURROGATE)


def test_filter_replacement_with_a_lone_surrogate_is_refused() -> None:
    """A MetricFilter.replace_label_value function returning a lone surrogate makes series creation raise."""
    replace = MetricFilter.replace_label_value("path", lambda value: value + SURROGATE)
    with (
        MetricsCollector(filters=[replace]) as collector,
        pytest.raises(InvalidLabelError, match="label 'path'"),
    ):
        collector.counter("hits_total", labels={"path": "/home"})


def test_common_labels_with_a_lone_surrogate_are_refused() -> None:
    """MetricFilter.common_labels validates its values when it is built."""
    with pytest.raises(InvalidLabelError, match="label 'host'"):
        MetricFilter.common_labels({"host": SURROGATE})


def test_resource_attribute_with_a_lone_surrogate_is_refused() -> None:
    """A Resource attribute becomes a target_info label and an OTLP string, so the collector refuses it."""
    with pytest.raises(InvalidLabelError, match=r"resource attribute 'service\.name'"):
        MetricsCollector(resource=Resource({"service.name": SURROGATE}))


def test_label_names_that_collapse_to_one_are_refused() -> None:
    """Exporters collapse runs of '_' in label names, so 'a__b' and 'a_b' on one series are refused."""
    with (
        MetricsCollector() as collector,
        pytest.raises(InvalidLabelError, match="'a__b' and 'a_b' are both exported to Prometheus as 'a_b'"),
    ):
        collector.counter("pairs_total", labels={"a_b": "1", "a__b": "2"})


def test_scrape_keeps_answering_after_refused_surrogates() -> None:
    """After every kind of surrogate input is refused, a real HTTP scrape of /metrics answers 200."""
    storage = PrometheusStorage(port=0, dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("ok_total", labels={"path": "/café"}).increment()
        attempts = [
            lambda: collector.counter("bad_total", labels={"path": SURROGATE}),
            lambda: collector.gauge("bad_gauge").set(1, labels={"k": SURROGATE}),
            lambda: collector.gauge("bad_help", description=SURROGATE),
            lambda: collector.summary("bad_unit", unit=SURROGATE),
        ]
        for attempt in attempts:
            with pytest.raises(MetricError):
                attempt()
        assert storage.url is not None
        with urllib.request.urlopen(storage.url, timeout=5) as response:
            assert response.status == 200
            body = response.read().decode()
    assert "ok_total{" in body and 'path="/café"' in body


# -- item 11: names that collide after the exporters' renaming -----------------------------------------------

COLLISIONS = [
    pytest.param([("counter", "foo", ""), ("counter", "foo_total", "")], "foo_total", "foo", id="counter-total"),
    pytest.param([("counter", "x", ""), ("gauge", "x_total", "")], "x_total", "x", id="gauge-total"),
    pytest.param([("gauge", "lat", "s"), ("gauge", "lat_seconds", "")], "lat_seconds", "lat", id="unit-suffix"),
    pytest.param([("summary", "s", ""), ("gauge", "s_p50", "")], "s_p50", "s", id="summary-quantile"),
    pytest.param([("histogram", "h", ""), ("gauge", "h_count", "")], "h_count", "h", id="histogram-count"),
    pytest.param([("counter", "c_seconds", ""), ("gauge", "c", "s")], "c", "c_seconds", id="openmetrics-family"),
    pytest.param([("gauge", "a__b", ""), ("gauge", "a_b", "")], "a_b", "a__b", id="underscores"),
]


def _create(collector: MetricsCollector, kind: str, name: str, unit: str, quantiles: Any = (0.5, 0.9)) -> Any:
    if kind == "summary":
        return collector.summary(name, unit=unit, quantiles=quantiles)
    return getattr(collector, kind)(name, unit=unit)


@pytest.mark.parametrize(("creations", "second", "first"), COLLISIONS)
def test_names_that_collide_once_exported_are_refused(
    creations: list[tuple[str, str, str]], second: str, first: str
) -> None:
    """The second metric raises MetricConflictError naming both; the first keeps exporting a valid page."""
    storage = PrometheusStorage()
    with MetricsCollector(storage=storage) as collector:
        (kind1, name1, unit1), (kind2, name2, unit2) = creations
        _create(collector, kind1, name1, unit1)
        with pytest.raises(MetricConflictError) as refused:
            _create(collector, kind2, name2, unit2)
        assert f"'{second}'" in str(refused.value) and f"'{first}'" in str(refused.value)
        assert [f.name for f in collector.families()] == [first]
        _assert_valid_exposition(storage)


@pytest.mark.parametrize("name", ["target_info", "target"])
def test_the_exporters_own_target_info_name_is_reserved(name: str) -> None:
    """target_info (and its OpenMetrics family 'target') belong to the exporter's resource metric."""
    with (
        MetricsCollector() as collector,
        pytest.raises(MetricConflictError, match=f"'{name}'.*reserved for the Prometheus exporter"),
    ):
        collector.gauge(name)


def test_quantiles_that_share_a_gauge_are_refused() -> None:
    """Quantiles 0.5 and 0.500000000001 would both become <name>_p50: refused naming both."""
    with (
        MetricsCollector() as collector,
        pytest.raises(MetricConflictError, match=r"quantiles 0\.5 and 0\.500000000001 both map to 'p50'"),
    ):
        collector.summary("wait_seconds", quantiles=[0.5, 0.500000000001])


def test_the_overflow_counters_name_is_reserved_for_it() -> None:
    """A user gauge cannot take rfs_otel_cardinality_overflow_total; the counter itself can be asked for."""
    with MetricsCollector() as collector:
        with pytest.raises(MetricConflictError, match="rfs_otel_cardinality_overflow_total"):
            collector.gauge("rfs_otel_cardinality_overflow_total")
        collector.counter("rfs_otel_cardinality_overflow_total", labels={"metric": "x"}).increment()
        limited = collector.gauge("limited", cardinality_limit=2)  # {} and k=a fit
        limited.set(1, labels={"k": "a"})
        limited.set(1, labels={"k": "b"})  # folds, and counts the fold on the shared counter
        values = {tuple(m.labels.items()): m.value for m in collector.snapshot() if m.name.startswith("rfs_otel")}
    assert values == {(("metric", "x"),): 1, (("metric", "limited"),): 1}


def test_a_views_rename_is_part_of_the_exposed_name() -> None:
    """A View renaming 'queue_wait' to 'wait' makes a later gauge 'wait' a conflict naming both."""
    with MetricsCollector(views=[View(instrument_name="queue_wait", name="wait")]) as collector:
        collector.gauge("queue_wait")
        with pytest.raises(MetricConflictError, match=r"gauge 'wait' and gauge 'queue_wait' \(exported as 'wait'\)"):
            collector.gauge("wait")


def test_denied_metrics_claim_no_names() -> None:
    """A metric a filter denies is never exposed, so another metric may use the name it would have had."""
    views = [View(instrument_name="probes", name="debug_total")]
    with MetricsCollector(filters=[MetricFilter.deny("debug")], views=views) as collector:
        collector.counter("debug")  # denied: 'debug_total' stays free
        collector.gauge("probes").set(1)  # exposed as 'debug_total' through the View
        collector.gauge("debug_total")  # denied too: no conflict with the View's stream
        assert [f.name for f in collector.families()] == ["probes"]


def test_asking_for_the_same_metric_again_is_not_a_conflict() -> None:
    """The same name, kind and unit again returns the same family, with or without labels."""
    with MetricsCollector() as collector:
        first = collector.histogram("latency", unit="s")
        assert collector.histogram("latency", unit="s") is first
        collector.histogram("latency", unit="s", labels={"route": "/"}).observe(0.1)
        assert len(collector.families()) == 1


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=20))
def test_name_rules_match_the_real_prometheus_exporter(text: str) -> None:
    """rfs_otel's copy of the exporter's name sanitizing and unit mapping agrees with the installed exporter."""
    assert sanitize_name(text) == _mapping.sanitize_full_name(text)
    assert map_unit(text) == _mapping.map_unit(text)


@pytest.mark.parametrize("unit", ["s", "ms", "By", "1", "%", "m/s", "/s", "{request}", "req/{x}", "KiBy", "Cel"])
def test_unit_mapping_matches_the_real_exporter(unit: str) -> None:
    """Every UCUM unit in the exporter's tables maps the same way here."""
    assert map_unit(unit) == _mapping.map_unit(unit)


# -- properties ------------------------------------------------------------------------------------------------

KINDS = st.sampled_from(["counter", "gauge", "histogram", "summary"])
_DOTTED = ["a.x", "a.total", "a-x", "a/x", "a.seconds", "a.count", "a._x", "target.info", "b.c-d/e"]
NAMES = st.sampled_from(
    [
        "a",
        "a_total",
        "a_seconds",
        "a_count",
        "a_sum",
        "a_bucket",
        "a_p50",
        "a_p99_9",
        "a__x",
        "a_x",
        "target",
        "b",
        *_DOTTED,
    ]
)
UNITS = st.sampled_from(["", "s", "seconds", "1", "By", "total", "{req}", "m/s", "info", "count", "p50"])
QUANTILES = st.lists(st.sampled_from([0.5, 0.500000000001, 0.9, 0.99, 0.999]), min_size=1, max_size=3)
CREATIONS = st.lists(st.tuples(KINDS, NAMES, UNITS, QUANTILES), min_size=1, max_size=8)


def _record(series: Any) -> None:
    if hasattr(series, "observe"):
        series.observe(0.25)
    elif hasattr(series, "set"):
        series.set(2)
    else:
        series.increment()


@SETTINGS
@given(creations=CREATIONS)
def test_any_accepted_sequence_of_creations_scrapes_cleanly(creations: list[tuple[str, str, str, list[float]]]) -> None:
    """Whatever mix of colliding names is asked for, only MetricConflictError is raised and promtool passes."""
    storage = PrometheusStorage()
    with MetricsCollector(storage=storage) as collector:
        for kind, name, unit, quantiles in creations:
            try:
                series = _create(collector, kind, name, unit, quantiles)
            except MetricConflictError:
                continue
            _record(series)
        _assert_valid_exposition(storage)


#: Any code point, lone surrogates (category Cs) explicitly included and drawn often.
CHARACTERS = st.characters(exclude_categories=()) | st.characters(categories=["Cs"])
HOSTILE = st.text(alphabet=CHARACTERS, max_size=30) | st.sampled_from(
    [SURROGATE, "\ud800", "ok\udfff", "a\x00b", "new\nline", ""]
)


@contextmanager
def _everywhere() -> Iterator[tuple[MetricsCollector, PrometheusStorage, FileMetricsStorage, MemoryMetricsStorage]]:
    with tempfile.TemporaryDirectory() as tmp:
        prometheus = PrometheusStorage()
        file = FileMetricsStorage(Path(tmp) / "m.jsonl")
        memory = MemoryMetricsStorage()
        with MetricsCollector(storage=[prometheus, file, memory]) as collector:
            yield collector, prometheus, file, memory


@SETTINGS
@given(role=st.sampled_from(["name", "label_key", "label_value", "description", "unit"]), text=HOSTILE)
def test_hostile_text_is_refused_or_survives_every_exporter(role: str, text: str) -> None:
    """Any text, lone surrogates included, in any role: refused at creation, or scraped, encoded and read back."""
    expected: dict[str, tuple[type[MetricError], ...]] = {
        "name": (InvalidMetricNameError, MetricConflictError),
        "label_key": (InvalidLabelError,),
        "label_value": (InvalidLabelError,),
        "description": (InvalidMetricNameError,),
        "unit": (InvalidMetricNameError,),
    }
    args: dict[str, Any] = {"name": "hostile", "labels": {"key": "value"}, "description": "d", "unit": ""}
    if role == "name":
        args["name"] = text
    elif role == "label_key":
        args["labels"] = {text: "value"}
    elif role == "label_value":
        args["labels"] = {"key": text}
    else:
        args[role] = text
    with _everywhere() as (collector, prometheus, file, memory):
        try:
            histogram = collector.histogram(**args)
        except MetricError as exc:
            assert isinstance(exc, expected[role]), exc
            return
        histogram.observe(1.5)
        assert collector.collect_and_store_sync().is_success()
        _assert_valid_exposition(prometheus)
        assert encode_metrics(memory.latest()).SerializeToString()
        [snapshot] = list(file.read_all())
        [metric] = snapshot.resource_metrics[0].scope_metrics[0].metrics
        assert (metric.name, metric.description, metric.unit) == (args["name"], args["description"], args["unit"])
        [point] = metric.histogram.data_points
        assert {kv.key: kv.value.string_value for kv in point.attributes} == args["labels"]
        assert point.count == 1


def test_a_clashing_family_from_another_worker_is_left_out_of_the_scrape(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Multiprocess: a worker's 'foo_total' clashing with this worker's 'foo' is not exported; warned once."""
    storage = PrometheusStorage()
    with MetricsCollector(storage=storage, multiprocess_dir=tmp_path) as collector:
        pid = os.fork()
        if pid == 0:  # a worker that created the other name first
            collector.counter("foo_total").increment()
            os._exit(0)
        os.waitpid(pid, 0)
        collector.counter("foo").increment(2)
        _assert_valid_exposition(storage)
        _assert_valid_exposition(storage)
        text = storage.exposition().decode()
    [line] = [line for line in text.splitlines() if line.startswith("foo_total")]
    assert line.endswith(" 2.0")  # this worker's 'foo' only
    warnings = [r.getMessage() for r in caplog.records if "from another worker is not exported" in r.getMessage()]
    assert len(warnings) == 1 and "'foo_total'" in warnings[0] and "'foo'" in warnings[0]
