"""The direct scrape renders exactly what OpenTelemetry's Prometheus exporter renders for the same data.

Each example builds random counters, gauges and explicit-bucket histograms (dotted names and label keys, units,
descriptions and label values with quotes, backslashes, newlines and non-ASCII text, scope labels and
``target_info`` on or off), then compares ``PrometheusStorage.exposition()`` (the direct renderer) with what
prometheus_client writes from the storage's registry (the OTel exporter path): parsed families and raw lines.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import prometheus_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from rfs_otel import MetricsCollector, PrometheusStorage

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

_name = st.from_regex(r"[a-z][a-z0-9_.]{0,12}", fullmatch=True)
_key = st.from_regex(r"[a-z][a-z0-9_.]{0,8}", fullmatch=True).filter(lambda k: k not in ("le", "quantile"))
_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from('\\"\n\r\x85\u2028\x0b\t'),
    max_size=12,
)
_unit = st.sampled_from(["", "s", "ms", "By", "1", "%", "m/s", "{request}", "Cel", "widgets"])
_labels = st.dictionaries(_key, _text, max_size=3)
_bounds = st.lists(
    st.floats(-1e6, 1e9, allow_nan=False, allow_infinity=False) | st.integers(-5, 10**7), min_size=1, max_size=6
).map(lambda xs: sorted({float(x) for x in xs}))
_amount = st.integers(0, 10**9) | st.floats(0, 1e12, allow_nan=False, allow_infinity=False)
_reading = st.floats(-1e15, 1e15, allow_nan=False, allow_infinity=False) | st.integers(-(10**7), 10**7)


@st.composite
def _metric(draw: Any, index: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["counter", "gauge", "histogram"]))
    series = draw(st.lists(_labels, max_size=4))
    return {
        "kind": kind,
        "name": f"m{index}_{draw(_name)}",
        "description": draw(_text),
        "unit": draw(_unit),
        "bounds": draw(_bounds) if kind == "histogram" else None,
        "series": [
            (labels, draw(st.lists(_amount if kind == "counter" else _reading, min_size=1, max_size=3)))
            for labels in series
        ],
    }


@st.composite
def _setup(draw: Any) -> dict[str, Any]:
    count = draw(st.integers(1, 4))
    return {
        "metrics": [draw(_metric(i)) for i in range(count)],
        "scope_labels": draw(st.booleans()),
        "target_info": draw(st.booleans()),
    }


def _build(setup: dict[str, Any]) -> tuple[MetricsCollector, PrometheusStorage]:
    """The setup's metrics recorded (naming advice the random names draw is not logged)."""
    logger = logging.getLogger("rfs_otel")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return _record(setup)
    finally:
        logger.setLevel(level)


def _record(setup: dict[str, Any]) -> tuple[MetricsCollector, PrometheusStorage]:
    storage = PrometheusStorage(scope_labels=setup["scope_labels"], target_info=setup["target_info"], dashboard=False)
    collector = MetricsCollector(storage=storage)
    for metric in setup["metrics"]:
        name, description, unit = metric["name"], metric["description"], metric["unit"]
        for labels, values in metric["series"]:
            if metric["kind"] == "counter":
                counter = collector.counter(name, description, labels=labels, unit=unit)
                for value in values:
                    counter.increment(value)
            elif metric["kind"] == "gauge":
                collector.gauge(name, description, labels=labels, unit=unit).set(values[-1])
            else:
                histogram = collector.histogram(
                    name, description=description, labels=labels, unit=unit, buckets=metric["bounds"]
                )
                for value in values:
                    histogram.observe(value)
    return collector, storage


def _openmetrics_safe(setup: dict[str, Any]) -> dict[str, Any]:
    """The setup as OpenMetrics accepts it: histogram observations non-negative (no negative ``_sum``), and no
    empty label value (``{a=""}`` is the same series as one without ``a``, which OpenMetrics rejects twice)."""
    metrics = [
        {
            **m,
            "series": [
                (labels, [abs(v) for v in values] if m["kind"] == "histogram" else values)
                for labels, values in m["series"]
                if all(labels.values())
            ],
        }
        for m in setup["metrics"]
    ]
    return {**setup, "metrics": metrics}


def _families(parsed: Any) -> dict[str, Any]:
    """Parsed families by name: (type, help, unit, samples as sorted tuples; NaN compared as text)."""
    out = {}
    for family in parsed:
        samples = sorted(
            (s.name, tuple(sorted(s.labels.items())), repr(s.value) if math.isnan(s.value) else s.value)
            for s in family.samples
        )
        out[family.name] = (family.type, family.documentation, family.unit, samples)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_setup())
def test_direct_text_equals_the_otel_exporter(setup: dict[str, Any]) -> None:
    """Text format: the direct renderer's families and lines equal OTel's exporter's for random metrics."""
    collector, storage = _build(setup)
    try:
        direct = storage.exposition().decode()
        otel = prometheus_client.generate_latest(storage.registry).decode()
        assert _families(parse_text(direct)) == _families(parse_text(otel))
        assert sorted(direct.splitlines()) == sorted(otel.splitlines())
    finally:
        collector.shutdown()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_setup())
def test_direct_openmetrics_equals_the_otel_exporter(setup: dict[str, Any]) -> None:
    """OpenMetrics: the direct renderer's families and lines equal OTel's exporter's for random metrics."""
    collector, storage = _build(_openmetrics_safe(setup))
    try:
        direct = storage.exposition(OPENMETRICS).decode()
        otel = openmetrics_latest(storage.registry).decode()
        assert _families(parse_openmetrics(direct)) == _families(parse_openmetrics(otel))
        assert sorted(direct.splitlines()) == sorted(otel.splitlines())
        assert direct.endswith("# EOF\n") and direct.splitlines().count("# EOF") == 1  # the marker line, once
    finally:
        collector.shutdown()
