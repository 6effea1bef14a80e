"""Exemplars of the decorator's traced timings stay on the OpenMetrics bucket lines when a View renames or
re-buckets the histogram (those families go through OTel's exporter, which writes no exemplars)."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from rfs_otel import MetricsCollector, PerformanceMonitored, PrometheusStorage, TimingMetric

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def _scrape(views: list[View], *marks: tuple[float, int], labels: dict[str, str] | None = None) -> Any:
    """OpenMetrics families after observing each (value, trace id) with an exemplar in ``op_duration_seconds``."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage, views=views) as collector:
        histogram = collector.histogram("op_duration_seconds", unit="s", labels=labels or {})
        for value, trace_id in marks:
            histogram.observe_with_exemplar(value, trace_id, trace_id + 1)
        body = storage.exposition(OPENMETRICS).decode()
    return {f.name: f for f in parse_openmetrics(body)}


def _exemplars(family: Any) -> dict[str, Any]:
    """``le`` -> exemplar of a family's bucket samples that carry one."""
    return {s.labels["le"]: s.exemplar for s in family.samples if s.name.endswith("_bucket") and s.exemplar}


def test_a_renamed_timing_histogram_keeps_the_exemplar_of_the_traced_call() -> None:
    """A View renaming the decorator's timing histogram: the exemplar is on the renamed family, pointing at the
    call's span."""
    spans = InMemorySpanExporter()
    tracing = TracerProvider()
    tracing.add_span_processor(SimpleSpanProcessor(spans))
    storage = PrometheusStorage(dashboard=False)
    view = View(instrument_name="op_duration_seconds", name="op_latency_seconds")
    with MetricsCollector(storage=storage, views=[view]) as collector:
        monitor = PerformanceMonitored(
            timing_metric=TimingMetric("op_duration_seconds"), collector=collector, trace=True, tracer_provider=tracing
        )
        monitor(lambda: None)()
        families = {f.name: f for f in parse_openmetrics(storage.exposition(OPENMETRICS).decode())}
    (exemplar,) = _exemplars(families["op_latency_seconds"]).values()
    (span,) = spans.get_finished_spans()
    assert span.context is not None
    assert exemplar.labels == {"trace_id": f"{span.context.trace_id:032x}", "span_id": f"{span.context.span_id:016x}"}


def test_a_rebucketed_histogram_puts_the_exemplar_on_the_bucket_that_holds_the_value() -> None:
    """Re-bucketed by a View to (0.1, 1.0): a 0.3 s call's exemplar sits on ``le="1.0"``, a 0.02 s one on 0.1."""
    view = View(instrument_name="op_duration_seconds", aggregation=ExplicitBucketHistogramAggregation((0.1, 1.0)))
    families = _scrape([view], (0.3, 1), (0.02, 2))
    exemplars = _exemplars(families["op_duration_seconds"])
    assert {le: e.value for le, e in exemplars.items()} == {"0.1": 0.02, "1.0": 0.3}


def test_the_latest_exemplar_wins_when_a_coarser_bucket_gathers_several() -> None:
    """Two calls whose original buckets merge into one coarse bucket: that bucket carries the later call's."""
    view = View(instrument_name="op_duration_seconds", aggregation=ExplicitBucketHistogramAggregation((1.0,)))
    families = _scrape([view], (0.003, 1), (0.2, 2))
    exemplars = _exemplars(families["op_duration_seconds"])
    assert list(exemplars) == ["1.0"]
    assert exemplars["1.0"].value == 0.2
    assert exemplars["1.0"].labels["trace_id"] == f"{2:032x}"


def test_a_view_that_merges_series_gives_no_exemplars() -> None:
    """``attribute_keys`` merges series into one point: no single trace to point at, so none (as with OTLP)."""
    view = View(instrument_name="op_duration_seconds", attribute_keys=set())
    families = _scrape([view], (0.003, 1), labels={"route": "/a"})
    assert _exemplars(families["op_duration_seconds"]) == {}
    assert families["op_duration_seconds"].samples  # the merged series itself is there


def test_each_series_of_a_renamed_family_carries_its_own_exemplar() -> None:
    """Two series of a renamed family: each bucket line carries the exemplar of its own series."""
    storage = PrometheusStorage(dashboard=False)
    view = View(instrument_name="op_duration_seconds", name="op_latency_seconds")
    with MetricsCollector(storage=storage, views=[view]) as collector:
        collector.histogram("op_duration_seconds", unit="s", labels={"route": "/a"}).observe_with_exemplar(0.003, 1, 2)
        collector.histogram("op_duration_seconds", unit="s", labels={"route": "/b"}).observe_with_exemplar(0.3, 3, 4)
        families = {f.name: f for f in parse_openmetrics(storage.exposition(OPENMETRICS).decode())}
    found = {
        (s.labels["route"], s.labels["le"]): s.exemplar.labels["trace_id"]
        for s in families["op_latency_seconds"].samples
        if s.exemplar
    }
    assert found == {("/a", "0.005"): f"{1:032x}", ("/b", "0.5"): f"{3:032x}"}


def test_the_text_format_of_a_renamed_family_has_no_exemplars() -> None:
    """The Prometheus text format has no exemplar syntax: the renamed family is written without them."""
    storage = PrometheusStorage(dashboard=False)
    view = View(instrument_name="op_duration_seconds", name="op_latency_seconds")
    with MetricsCollector(storage=storage, views=[view]) as collector:
        collector.histogram("op_duration_seconds", unit="s").observe_with_exemplar(0.003, 1, 2)
        text = storage.exposition().decode()
    assert "op_latency_seconds_bucket" in text
    assert " # {" not in text
