"""Exponential histograms (OTel base-2) end to end: recording, OTLP protobuf, Views, environment, quantiles."""

from __future__ import annotations

import json
import math
import os
import random
import threading
from decimal import Decimal, getcontext
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View

from rfs_otel import (
    AlertManager,
    AlertRule,
    FileMetricsStorage,
    MemoryMetricsStorage,
    MetricConflictError,
    MetricError,
    MetricsCollector,
    OTLPStorage,
    PrometheusStorage,
)
from rfs_otel.testing import ManualClock, exported_points

from .forking import FORK_WARNING
from .otlp_receivers import grpc_receiver
from .servers import promtool_check_metrics

getcontext().prec = 60
_LN2 = Decimal(2).ln()


def _index(value: float, scale: int) -> int:
    """The spec's bucket index of a positive value, computed independently in 60-digit decimal arithmetic."""
    log2 = Decimal(value).ln() / _LN2
    return int((log2 * Decimal(2) ** scale).to_integral_value(rounding="ROUND_CEILING")) - 1


def _reference(values: list[float], max_size: int = 160, max_scale: int = 20) -> dict[str, Any]:
    """The largest scale <= max_scale at which each sign's buckets span at most max_size, and those buckets."""
    for scale in range(max_scale, -11, -1):
        sides = []
        for magnitudes in ([v for v in values if v > 0], [-v for v in values if v < 0]):
            counts: dict[int, int] = {}
            for v in magnitudes:
                counts[_index(v, scale)] = counts.get(_index(v, scale), 0) + 1
            sides.append(counts)
        if all(not c or max(c) - min(c) + 1 <= max_size for c in sides):
            dense = [(min(c), [c.get(i, 0) for i in range(min(c), max(c) + 1)]) if c else (0, []) for c in sides]
            return {"scale": scale, "positive": dense[0], "negative": dense[1], "zero": values.count(0.0)}
    raise AssertionError("no scale fits")


def _otlp_point(collector: MetricsCollector, received: Any, name: str) -> Any:
    assert collector.collect_and_store_sync().is_success()
    metric = received.metrics()[name]
    assert metric.WhichOneof("data") == "exponential_histogram"
    [point] = metric.exponential_histogram.data_points
    return point


def _check(point: Any, values: list[float], max_size: int = 160, max_scale: int = 20) -> None:
    ref = _reference(values, max_size, max_scale)
    assert point.scale == ref["scale"]
    assert (point.positive.offset, list(point.positive.bucket_counts)) == ref["positive"]
    assert (point.negative.offset, list(point.negative.bucket_counts)) == ref["negative"]
    assert point.zero_count == ref["zero"]
    assert point.count == len(values)
    assert point.sum == pytest.approx(math.fsum(values))
    assert (point.min, point.max) == (min(values), max(values))


def test_argument_exports_scale_offset_and_buckets_the_spec_defines_over_otlp() -> None:
    """aggregation="exponential": the OTLP receiver decodes the spec's scale, offsets, buckets and zero count."""
    rng = random.Random(1)
    values = [rng.lognormvariate(0, 2) for _ in range(500)] + [-rng.lognormvariate(1, 0.5) for _ in range(50)]
    values += [0.0, 0.0, 1.0, 2.0, 4.0, -0.5]  # zeros and exact powers of two (upper-inclusive buckets)
    with grpc_receiver() as (endpoint, received):
        storage = OTLPStorage(endpoint=endpoint, protocol="grpc", insecure=True, timeout=5)
        with MetricsCollector(storage=storage) as collector:
            histogram = collector.histogram("wait_seconds", aggregation="exponential")
            for v in values:
                histogram.observe(v)
            _check(_otlp_point(collector, received, "wait_seconds"), values)


def test_a_single_value_keeps_the_maximum_scale() -> None:
    """Nothing to fit: one observation stays at max_scale 20, in the bucket the spec's formula gives."""
    with MetricsCollector(storage=[]) as collector:
        histogram = collector.histogram("one_seconds", aggregation="exponential")
        histogram.observe(3.7)
        snap = histogram.snapshot()
        assert (snap.scale, snap.positive) == (20, {_index(3.7, 20): 1})


def test_a_growing_range_downscales_and_max_size_is_respected() -> None:
    """Each wider range lowers the scale just enough; buckets never exceed max_size; counts are the spec's."""
    with grpc_receiver() as (endpoint, received):
        storage = OTLPStorage(endpoint=endpoint, protocol="grpc", insecure=True, timeout=5)
        with MetricsCollector(storage=storage) as collector:
            histogram = collector.histogram("grow_seconds", aggregation="exponential", max_size=8, max_scale=6)
            values: list[float] = []
            scales = []
            for v in (1.0, 1.01, 1.5, 3.0, 40.0, 1e6, 1e-6, 1e30):
                histogram.observe(v)
                values.append(v)
                scales.append(histogram.scale)
                point = _otlp_point(collector, received, "grow_seconds")
                assert len(point.positive.bucket_counts) <= 8
                _check(point, values, max_size=8, max_scale=6)
            assert scales == sorted(scales, reverse=True) and scales[0] == 6 and scales[-1] < 0


def test_threads_at_different_scales_merge_at_the_common_scale() -> None:
    """A narrow-range thread (fine scale) and a wide-range thread (coarse) merge to the spec's buckets of all."""
    narrow = [1.0 + i / 1000 for i in range(100)]
    wide = [10.0**e for e in range(-5, 6)]
    with MetricsCollector(storage=[]) as collector:
        histogram = collector.histogram("merge_seconds", aggregation="exponential", max_size=20)
        barrier = threading.Barrier(2, timeout=5)

        def record(values: list[float]) -> None:
            for v in values:
                histogram.observe(v)
            barrier.wait()  # both threads alive at the read below would be racy; the merge happens at reap too

        threads = [threading.Thread(target=record, args=(part,)) for part in (narrow, wide)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        snap = histogram.snapshot()
        ref = _reference(narrow + wide, max_size=20)
        assert snap.scale == ref["scale"]
        offset, counts = ref["positive"]
        assert snap.positive == {offset + i: c for i, c in enumerate(counts) if c}


@pytest.mark.parametrize("q", [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999])
def test_quantile_is_within_the_documented_relative_error_on_log_normal_data(q: float) -> None:
    """get_quantile(q) is within (b-1)/(b+1) of the exact (nearest-rank) quantile, b = 2**2**-scale."""
    rng = np.random.default_rng(3)
    data = rng.lognormal(mean=-2.0, sigma=1.0, size=20_000)
    with MetricsCollector(storage=[]) as collector:
        histogram = collector.histogram("latency_seconds", aggregation="exponential")
        for v in data.tolist():
            histogram.observe(v)
        scale = histogram.scale
        base = 2.0 ** (2.0**-scale)
        bound = (base - 1) / (base + 1)
        exact = float(np.quantile(data, q, method="inverted_cdf"))
        estimate = histogram.get_quantile(q)
        assert scale >= 3 and bound < 0.05
        assert abs(estimate - exact) <= bound * exact * (1 + 1e-9)


def test_view_makes_a_histogram_exponential_on_the_collectors_provider() -> None:
    """A View with ExponentialBucketHistogramAggregation (max_size, max_scale) on the collector's own views."""
    view = View(instrument_name="db_*", aggregation=ExponentialBucketHistogramAggregation(max_size=4, max_scale=3))
    storage = MemoryMetricsStorage()
    with MetricsCollector(storage=storage, views=[view]) as collector:
        histogram = collector.histogram("db_seconds")
        values = [0.5, 1.0, 2.0, 100.0]
        for v in values:
            histogram.observe(v)
        [point] = exported_points(storage.collect(), "db_seconds")
        ref = _reference(values, max_size=4, max_scale=3)
        assert (point.scale, point.positive.offset, list(point.positive.bucket_counts)) == (
            ref["scale"],
            *ref["positive"],
        )


def test_view_on_an_attached_provider_reaches_its_reader() -> None:
    """Attached mode: the application's View makes the facade histogram exponential for its reader."""
    reader = InMemoryMetricReader()
    view = View(instrument_name="rpc_seconds", aggregation=ExponentialBucketHistogramAggregation())
    provider = MeterProvider(metric_readers=[reader], views=[view])
    collector = MetricsCollector(storage=[], meter_provider=provider)
    collector.histogram("rpc_seconds").observe(0.25)
    [point] = exported_points(reader.get_metrics_data(), "rpc_seconds")
    assert (point.scale, point.positive.offset, list(point.positive.bucket_counts)) == (20, -(2**21) - 1, [1])
    collector.shutdown()
    provider.shutdown()


def test_environment_variable_makes_histograms_without_buckets_exponential(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION=base2_exponential_bucket_histogram: the default."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "base2_exponential_bucket_histogram")
    storage = MemoryMetricsStorage()
    with MetricsCollector(storage=storage) as collector:
        collector.histogram("env_seconds").observe(1.5)
        collector.histogram("fixed_seconds", buckets=[1.0, 2.0]).observe(1.5)
        collector.histogram("forced_seconds", aggregation="explicit").observe(1.5)
        data = storage.collect()
        assert exported_points(data, "env_seconds")[0].scale == 20
        assert list(exported_points(data, "fixed_seconds")[0].explicit_bounds) == [1.0, 2.0]
        assert hasattr(exported_points(data, "forced_seconds")[0], "explicit_bounds")


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"aggregation": "log"}, "aggregation must be one of"),
        ({"aggregation": "exponential", "buckets": [1.0]}, "exclude each other"),
        ({"aggregation": "exponential", "max_size": 1}, "max_size must be an int from 2"),
        ({"aggregation": "exponential", "max_scale": 21}, "max_scale must be an int from -10 to 20"),
        ({"max_size": 10}, "apply only to aggregation='exponential'"),
    ],
)
def test_bad_aggregation_arguments_are_named_errors(kwargs: dict[str, Any], words: str) -> None:
    """Each unusable combination raises a MetricError naming the value and what was expected."""
    with MetricsCollector(storage=[]) as collector, pytest.raises(MetricError, match=words):
        collector.histogram("bad_seconds", **kwargs)


def test_same_name_with_the_other_aggregation_is_a_conflict() -> None:
    """A histogram cannot be both explicit and exponential."""
    with MetricsCollector(storage=[]) as collector:
        collector.histogram("both_seconds")
        with pytest.raises(MetricConflictError, match="exponential histogram"):
            collector.histogram("both_seconds", aggregation="exponential")
        assert collector.histogram("both_seconds") is collector.histogram("both_seconds")


def test_prometheus_scrape_gets_the_buckets_as_a_classic_histogram_that_promtool_accepts() -> None:
    """OTel's Prometheus exporter cannot render exponential data: the scrape gets explicit `le` buckets instead
    (a series with negative buckets has no _sum/_count, as prometheus_client writes such histograms)."""
    storage = PrometheusStorage(port=0)
    with MetricsCollector(storage=storage) as collector:
        histogram = collector.histogram("scrape_seconds", description="Waits", aggregation="exponential")
        for v in (0.0, 0.1, 0.2, 5.0):
            histogram.observe(v, labels={"route": "/a"})
        histogram.observe(-1.0, labels={"route": "/b"})
        text = storage.exposition()
        assert promtool_check_metrics(text).returncode == 0
        lines = text.decode().splitlines()
        assert any(line.startswith('scrape_seconds_bucket{le="+Inf"') and '"/a"' in line for line in lines)
        assert any(line.startswith('scrape_seconds_bucket{le="0.0"') and line.endswith(" 1.0") for line in lines)
        [count] = [line for line in lines if line.startswith("scrape_seconds_count")]
        assert '"/a"' in count and count.endswith(" 4.0")


def test_file_storage_writes_exponential_points(tmp_path: Path) -> None:
    """The file storage's OTLP-JSON lines carry the exponential histogram (scale, zero count, buckets)."""
    path = tmp_path / "metrics.jsonl"
    with MetricsCollector(storage=FileMetricsStorage(path)) as collector:
        collector.histogram("file_seconds", aggregation="exponential").observe(0.0)
        assert collector.collect_and_store_sync().is_success()
    text = path.read_text()
    assert "exponentialHistogram" in text or "exponential_histogram" in text
    record = json.loads(text.splitlines()[0])
    assert "file_seconds" in json.dumps(record)


def test_get_value_and_snapshot_records_give_count_sum_and_cumulative_buckets() -> None:
    """The RFS reading API works on it: cumulative buckets up to +Inf, count and sum, and the scale."""
    with MetricsCollector(storage=[]) as collector:
        histogram = collector.histogram("read_seconds", aggregation="exponential")
        for v in (0.5, 1.5, 1.5, 3.0):
            histogram.observe(v)
        value = histogram.get_value()
        assert (value["count"], value["sum"], value["buckets"][math.inf]) == (4, 6.5, 4)
        assert list(value["buckets"].values()) == sorted(value["buckets"].values())
        [record] = collector.snapshot()
        assert record.value["count"] == 4


def _fork(record: Any, stay: bool = False) -> tuple[int, int | None]:
    """Fork a worker running ``record()``; it exits at once, or (``stay``) once the parent closes the returned fd.

    Two pipes, each end closed where it is not used, so a worker that dies early is an EOF, never a hang.
    """
    ready_r, ready_w = os.pipe()
    release_r, release_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: record, report, and exit without any flush
        try:
            os.close(ready_r)
            os.close(release_w)
            record()
            os.write(ready_w, b"k")
            if stay:
                os.read(release_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(release_r)
    got = os.read(ready_r, 1)
    os.close(ready_r)
    if not stay or got != b"k":
        os.close(release_w)
        os.waitpid(pid, 0)
        assert got == b"k", "the worker failed before recording"
        return pid, None
    return pid, release_w


@FORK_WARNING
def test_multiprocess_workers_at_different_scales_merge_at_the_common_scale(tmp_path: Path) -> None:
    """Live and exited workers recorded at different scales: the export is the spec's histogram of all values."""
    narrow = [1.0 + i / 500 for i in range(200)]
    wide = [10.0**e for e in range(-6, 7)] + [-2.0, 0.0]
    middle = [0.5 * 1.1**i for i in range(40)]
    memory = MemoryMetricsStorage()
    with MetricsCollector(storage=memory, multiprocess_dir=tmp_path) as collector:
        histogram = collector.histogram("mp_seconds", aggregation="exponential", max_size=40)

        def recorder(values: list[float]) -> Any:
            return lambda: [histogram.observe(v) for v in values]

        live, pipe = _fork(recorder(narrow), stay=True)
        _fork(recorder(wide))
        histogram.observe(7.0)  # the parent's own cell
        expected = narrow + wide + [7.0]
        try:
            for _ in range(2):  # the second read comes after the exited worker was folded into the archive
                [point] = exported_points(memory.collect(), "mp_seconds")
                ref = _reference(expected, max_size=40)
                assert point.scale == ref["scale"] and point.count == len(expected)
                assert (point.positive.offset, list(point.positive.bucket_counts)) == ref["positive"]
                assert (point.negative.offset, list(point.negative.bucket_counts), point.zero_count) == (
                    *ref["negative"],
                    1,
                )
                assert (point.min, point.max) == (-2.0, 1e6)
        finally:
            assert pipe is not None
            os.close(pipe)
            os.waitpid(live, 0)
        _fork(recorder(middle))
        [point] = exported_points(memory.collect(), "mp_seconds")
        assert point.count == len(expected) + len(middle)
        assert point.scale == _reference(expected + middle, max_size=40)["scale"]


@FORK_WARNING
def test_multiprocess_adopts_an_exponential_histogram_only_a_worker_defined(tmp_path: Path) -> None:
    """A worker's exponential histogram is exported by the parent, which never created it."""
    memory = MemoryMetricsStorage()
    with MetricsCollector(storage=memory, multiprocess_dir=tmp_path) as collector:
        _fork(lambda: collector.histogram("worker_seconds", aggregation="exponential", max_size=8).observe(3.0))
        [point] = exported_points(memory.collect(), "worker_seconds")
        assert (point.count, point.scale, point.positive.offset) == (1, 20, _index(3.0, 20))


def test_quantile_alert_rule_reads_an_exponential_histogram() -> None:
    """aggregation='quantile' rules read its merged buckets: p95 of a window of only slow requests is slow."""
    wall = ManualClock(start=1_700_000_000.0)
    with MetricsCollector(storage=[]) as collector:
        histogram = collector.histogram("rule_seconds", aggregation="exponential", max_size=16)
        rule = AlertRule("slow", "rule_seconds", ">", 0.8, aggregation="quantile", quantile=0.95, window=60)
        manager = AlertManager(collector, rules=[rule], interval=1, clock=wall)
        for _ in range(100):
            histogram.observe(0.05)
        histogram.observe(3.0)  # the range is known before the window starts: buckets stay put
        [alert] = manager.evaluate_once() or manager.alerts()
        assert alert.value < 0.8
        wall.advance(61)
        for _ in range(100):
            histogram.observe(2.0)
        [alert] = manager.evaluate_once()
        assert 1.5 < alert.value <= 3.0


def test_delta_temporality_exports_what_was_recorded_since_the_last_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """An OTLP exporter preferring delta gets each interval's buckets (at the current scale) and nothing twice."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    with grpc_receiver() as (endpoint, received):
        storage = OTLPStorage(endpoint=endpoint, protocol="grpc", insecure=True, timeout=5)
        with MetricsCollector(storage=storage) as collector:
            histogram = collector.histogram("delta_seconds", aggregation="exponential", max_size=8)
            for v in (1.0, 1.5):
                histogram.observe(v)
            first = _otlp_point(collector, received, "delta_seconds")
            for v in (2.0, 100.0, 0.0):  # the range grows: the second interval is at a lower scale
                histogram.observe(v)
            second = _otlp_point(collector, received, "delta_seconds")
    assert received.metrics()["delta_seconds"].exponential_histogram.aggregation_temporality == 1  # DELTA
    _check(first, [1.0, 1.5], max_size=8)
    ref = _reference([1.0, 1.5, 2.0, 100.0, 0.0], max_size=8)
    earlier = _reference([1.0, 1.5], max_size=8)
    assert second.scale == ref["scale"] and (second.count, second.zero_count) == (3, 1)
    offset, counts = ref["positive"]
    shift = earlier["scale"] - ref["scale"]
    for i in range(len(earlier["positive"][1])):  # the first interval's buckets, moved to the new scale
        counts[((earlier["positive"][0] + i) >> shift) - offset] -= earlier["positive"][1][i]
    got = dict(enumerate(second.positive.bucket_counts, second.positive.offset))
    assert {i: c for i, c in got.items() if c} == {offset + i: c for i, c in enumerate(counts) if c}


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.just(0.0), st.floats(1e-300, 1e300), st.floats(-1e300, -1e-300)), min_size=1, max_size=25
    ),
    max_size=st.integers(2, 12),
    max_scale=st.integers(-3, 8),
)
def test_any_values_give_the_specs_buckets(values: list[float], max_size: int, max_scale: int) -> None:
    """Property: whatever the values and limits, scale, offsets, counts and zero count are the reference's."""
    with MetricsCollector(storage=[]) as collector:
        histogram = collector.histogram(
            "prop_seconds", aggregation="exponential", max_size=max_size, max_scale=max_scale
        )
        for v in values:
            histogram.observe(v)
        snap = histogram.snapshot()
    ref = _reference(values, max_size, max_scale)
    assert (snap.scale, snap.zero_count) == (ref["scale"], ref["zero"])
    for mine, (offset, counts) in ((snap.positive, ref["positive"]), (snap.negative, ref["negative"])):
        assert mine == {offset + i: c for i, c in enumerate(counts) if c}


def test_subnormals_share_the_smallest_normal_bucket_and_extremes_stay_exportable() -> None:
    """Subnormal values count in 2**-1022's bucket (as the OTel SDK maps them); the largest doubles read back."""
    storage = MemoryMetricsStorage()
    with MetricsCollector(storage=storage) as collector:
        histogram = collector.histogram("tiny_seconds", aggregation="exponential", max_size=4, max_scale=-10)
        for v in (5e-324, 1e-310, 2.0**-1022, 1.7976931348623157e308):
            histogram.observe(v)
        snap = histogram.snapshot()
        assert (snap.scale, snap.positive) == (
            -10,
            {_index(2.0**-1022, -10): 3, _index(1.7976931348623157e308, -10): 1},
        )
        value = histogram.get_value()
        assert value["count"] == 4 and list(value["buckets"])[-1] == math.inf
        [point] = exported_points(storage.collect(), "tiny_seconds")
        assert point.count == 4
