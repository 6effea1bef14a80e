"""The direct OTLP encoding sends exactly what OpenTelemetry's encoder makes of the OTel path's metrics.

Each example records random counters, gauges and explicit-bucket histograms (dotted names and label keys, units,
descriptions, non-ASCII label values, int and float values, exemplars, a meter's scope), exports them with
``OTLPStorage(http/protobuf)`` to a real OTLP receiver (the direct path) and compares the decoded request with
OTel's ``encode_metrics`` of the same storage reader's ``get_metrics_data()`` (the OTel path). Collection times
are the only field cleared; the order of scopes and of metrics within a scope is normalised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from rfs_otel import MetricsCollector, OTLPStorage
from tests.otlp_receivers import Received, http_receiver

_name = st.from_regex(r"[a-z][a-z0-9_.]{0,12}", fullmatch=True)
_key = st.from_regex(r"[a-z][a-z0-9_.]{0,8}", fullmatch=True).filter(lambda k: k not in ("le", "quantile"))
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=10)
_unit = st.sampled_from(["", "s", "ms", "By", "1", "{request}"])
_labels = st.dictionaries(_key, _text, max_size=3)
_bounds = st.lists(st.floats(-1e6, 1e9, allow_nan=False, allow_infinity=False), min_size=1, max_size=5).map(
    lambda xs: sorted(set(xs))
)
_amount = st.integers(0, 10**9) | st.floats(0, 1e12, allow_nan=False, allow_infinity=False)
_reading = st.floats(-1e15, 1e15, allow_nan=False, allow_infinity=False) | st.integers(-(10**7), 10**7)


@st.composite
def _metric(draw: Any, index: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["counter", "gauge", "histogram"]))
    return {
        "kind": kind,
        "name": f"m{index}_{draw(_name)}",
        "description": draw(_text),
        "unit": draw(_unit),
        "bounds": draw(_bounds) if kind == "histogram" else None,
        "meter": draw(st.booleans()),
        "series": [
            (
                labels,
                draw(st.lists(_amount if kind == "counter" else _reading, min_size=1, max_size=3)),
                draw(st.booleans()),
            )
            for labels in draw(st.lists(_labels, min_size=1, max_size=4))
        ],
    }


@st.composite
def _setup(draw: Any) -> list[dict[str, Any]]:
    return [draw(_metric(i)) for i in range(draw(st.integers(1, 4)))]


def _record(collector: MetricsCollector, metrics: list[dict[str, Any]]) -> None:
    meter = collector.meter("tests.library", "2.0")
    for metric in metrics:
        owner: Any = meter if metric["meter"] else collector
        name, description, unit = metric["name"], metric["description"], metric["unit"]
        for labels, values, traced in metric["series"]:
            if metric["kind"] == "counter":
                counter = owner.counter(name, description, labels=labels, unit=unit)
                for value in values:
                    counter.increment(value)
            elif metric["kind"] == "gauge":
                owner.gauge(name, description, labels=labels, unit=unit).set(values[-1])
            else:
                histogram = owner.histogram(
                    name, description=description, labels=labels, unit=unit, buckets=metric["bounds"]
                )
                for i, value in enumerate(values):
                    if traced:
                        histogram.observe_with_exemplar(value, trace_id=(1 << 100) + i, span_id=(1 << 60) + i)
                    else:
                        histogram.observe(value)


def _normalised(request: ExportMetricsServiceRequest) -> ExportMetricsServiceRequest:
    """``request`` with collection times cleared, scopes and the metrics of each scope in a fixed order."""
    out = ExportMetricsServiceRequest()
    for resource_metrics in request.resource_metrics:
        added = out.resource_metrics.add()
        added.CopyFrom(resource_metrics)
        del added.scope_metrics[:]
        scopes = sorted(resource_metrics.scope_metrics, key=lambda s: (s.scope.name, s.scope.version, s.schema_url))
        for scope_metrics in scopes:
            scope = added.scope_metrics.add()
            scope.CopyFrom(scope_metrics)
            del scope.metrics[:]
            for metric in sorted(scope_metrics.metrics, key=lambda m: m.name):
                copy = scope.metrics.add()
                copy.CopyFrom(metric)
                field = copy.WhichOneof("data")
                for point in getattr(copy, field).data_points if field else ():
                    point.time_unix_nano = 0
    return out


def _both(collector: MetricsCollector, storage: OTLPStorage, received: Received) -> tuple[Any, Any]:
    """The request the storage sent (direct) and OTel's encoding of its reader's collection (the OTel path)."""
    assert collector.collect_and_store_sync().is_success()
    direct = received.requests[-1]
    (reader,) = storage.readers()
    otel = encode_metrics(reader.get_metrics_data())  # type: ignore[attr-defined]
    return _normalised(direct), _normalised(otel)


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, Received]]:
    with http_receiver() as found:
        yield found


def _quiet() -> Any:
    logger = logging.getLogger("rfs_otel")
    level = logger.level
    logger.setLevel(logging.ERROR)
    return level


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(metrics=_setup())
def test_direct_request_equals_the_otel_encoder(receiver: tuple[str, Received], metrics: list[dict[str, Any]]) -> None:
    """Random counters, gauges and histograms: the direct request decodes to what OTel's encoder makes."""
    url, received = receiver
    storage = OTLPStorage(endpoint=url, protocol="http/protobuf", timeout=10)
    collector = MetricsCollector(storage=storage)
    level = _quiet()
    try:
        _record(collector, metrics)
        direct, otel = _both(collector, storage, received)
        assert direct == otel
    finally:
        logging.getLogger("rfs_otel").setLevel(level)
        collector.shutdown()


def test_other_libraries_instruments_share_the_request(receiver: tuple[str, Received]) -> None:
    """SDK instruments of other libraries on the same provider go in the same request, their scopes beside ours."""
    url, received = receiver
    storage = OTLPStorage(endpoint=url, protocol="http/protobuf", timeout=10)
    collector = MetricsCollector(storage=storage)
    try:
        collector.counter("jobs_total", labels={"queue": "mail"}).increment(3)
        collector.histogram("latency_seconds", buckets=[0.1, 1.0]).observe(0.5)
        library = collector.meter_provider.get_meter("other.library", "1.2")
        library.create_counter("other_total").add(7, {"k": "v"})
        library.create_histogram("other_seconds").record(0.25)
        rfs_scope = collector.meter_provider.get_meter("rfs_otel.sdk_side")
        rfs_scope.create_up_down_counter("queue_depth").add(-2)
        direct, otel = _both(collector, storage, received)
        assert direct == otel
        names = {m.name for rm in direct.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
        assert {"jobs_total", "latency_seconds", "other_total", "other_seconds", "queue_depth"} <= names
    finally:
        collector.shutdown()


def test_removed_series_restart_and_values_follow(receiver: tuple[str, Received]) -> None:
    """Across exports the cached series bytes carry the new values, and a removed series restarts its start time."""
    url, received = receiver
    storage = OTLPStorage(endpoint=url, protocol="http/protobuf", timeout=10)
    collector = MetricsCollector(storage=storage)
    try:
        counter = collector.counter("jobs_total", labels={"queue": "mail"})
        counter.increment()
        first, _ = _both(collector, storage, received)
        collector.remove("jobs_total", labels={"queue": "mail"})
        collector.counter("jobs_total", labels={"queue": "mail"}).increment(5)
        second, otel = _both(collector, storage, received)
        assert second == otel
        (before,) = first.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points
        (after,) = second.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points
        assert after.as_int == 5 and after.start_time_unix_nano > before.start_time_unix_nano
    finally:
        collector.shutdown()


def test_delta_preference_keeps_counters_on_the_otel_path(
    receiver: tuple[str, Received], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exporter preferring delta: counters and histograms are sent as delta (OTel path), gauges directly."""
    url, received = receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    collector = MetricsCollector(storage=OTLPStorage(endpoint=url, protocol="http/protobuf", timeout=10))
    try:
        counter = collector.counter("jobs_total")
        collector.gauge("depth").set(4)
        counter.increment(2)
        assert collector.collect_and_store_sync().is_success()
        counter.increment(3)
        assert collector.collect_and_store_sync().is_success()
        metrics = received.metrics()
        (point,) = metrics["jobs_total"].sum.data_points
        assert metrics["jobs_total"].sum.aggregation_temporality == 1  # AGGREGATION_TEMPORALITY_DELTA
        assert point.as_int == 3
        assert [p.as_int for p in metrics["depth"].gauge.data_points] == [4]
    finally:
        collector.shutdown()


def test_multiprocess_directory_shares_resource_and_sums(receiver: tuple[str, Received], tmp_path: Any) -> None:
    """Multiprocess mode: the direct request equals the OTel path's (shared ``service.instance.id``, merged files)."""
    url, received = receiver
    storage = OTLPStorage(endpoint=url, protocol="http/protobuf", timeout=10)
    collector = MetricsCollector(storage=storage, multiprocess_dir=tmp_path)
    try:
        collector.counter("jobs_total", labels={"queue": "mail"}).increment(2)
        collector.gauge("depth").set(1.5)
        collector.histogram("latency_seconds", buckets=[0.1, 1.0], labels={"b": "2", "a": "1"}).observe(0.5)
        direct, otel = _both(collector, storage, received)
        assert direct == otel
        resource = {kv.key: kv.value.string_value for kv in direct.resource_metrics[0].resource.attributes}
        assert resource["service.instance.id"]
        points = [m for sm in direct.resource_metrics[0].scope_metrics for m in sm.metrics]
        assert {m.name for m in points} == {"jobs_total", "depth", "latency_seconds"}
    finally:
        collector.shutdown()
