"""Issue #14 re-checked by a hostile user: odd values, odd clocks and odd files the summary and removal code meet."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rfs_otel import MetricsCollector
from rfs_otel.testing import ManualClock, isolated_collector

CORRUPT_REMOVALS = [
    pytest.param(b'{"["c_total", [["a", "1"', id="truncated"),
    pytest.param(b"[]", id="a-list"),
    pytest.param(b"null", id="null"),
    pytest.param(b"\x00\xff", id="binary"),
    pytest.param(b'{"x": 1}', id="key-not-json"),
    pytest.param(b'{"[\\"c_total\\", [[\\"a\\"]]]": {"at": 1, "baseline": [1]}}', id="label-pair-short"),
    pytest.param(b'{"[\\"c_total\\", []]": {"at": "soon", "baseline": [1]}}', id="time-not-a-number"),
    pytest.param(b'{"[\\"c_total\\", []]": {"baseline": [1]}}', id="no-time"),
]


@pytest.mark.parametrize("content", CORRUPT_REMOVALS)
def test_a_corrupt_removals_file_never_raises_and_is_counted(tmp_path: Path, content: bytes) -> None:
    """A malformed removed.json is skipped and counted as unreadable; reading and removing still work."""
    with MetricsCollector(multiprocess_dir=tmp_path) as collector:
        counter = collector.counter("c_total", description="d", labels={"a": "1"})
        counter.increment()
        (tmp_path / "removed.json").write_bytes(content)
        assert collector.get_sample_value("c_total", {"a": "1"}) == 1.0
        assert collector.get_sample_value("rfs_multiprocess_errors_total", {"reason": "unreadable"}) == 1.0
        counter.remove()
        assert collector.get_sample_value("c_total", {"a": "1"}) is None


def test_a_clock_going_backwards_keeps_the_samples_recorded_before_it() -> None:
    """After the clock jumps back and returns, the samples taken before the jump are still in the window."""
    clock = ManualClock()
    with isolated_collector(clock=clock) as collector:
        summary = collector.summary("jump_seconds", description="d", max_age=10, max_samples=1000)
        for i in range(700):
            summary.observe(float(i))
        clock.advance(-100)
        for i in range(700):
            summary.observe(float(1000 + i))
        clock.advance(100)
        stats = summary.get_statistics()
        assert (stats["count"], stats["min"], stats["max"]) == (1000, 400.0, 1699.0)
        assert summary.window() == [float(v) for v in [*range(400, 700), *range(1000, 1700)]]


@pytest.mark.parametrize("n", [4, 1000], ids=["exact", "buckets"])
def test_huge_values_of_both_signs_give_finite_quantiles_and_sums(n: int) -> None:
    """Half -1e308, half +1e308: the median is 0 (not the max by overflow) and the window sum is exact."""
    with isolated_collector() as collector:
        summary = collector.summary("huge_seconds", description="d", quantiles=[0.25, 0.5])
        for i in range(n):
            summary.observe(-1e308 if i < n // 2 else 1e308)
        stats = summary.get_statistics()
    assert stats["p50"] == 0.0 and stats["sum"] == 0.0
    assert stats["p25"] == pytest.approx(-1e308, rel=0.004)


def test_a_sum_that_overflows_on_the_way_but_not_at_the_end_stays_finite() -> None:
    """1e308, 1e308, then three -1e308: the window sum is -1e308 + 3, not -inf from an intermediate overflow."""
    with isolated_collector() as collector:
        summary = collector.summary("swing_seconds", description="d")
        for value in [1e308, 1e308, -1e308, -1e308, -1e308, 3.0]:
            summary.observe(value)
        stats = summary.get_statistics()
    assert stats["sum"] == -1e308 and math.isfinite(stats["mean"])


def test_mixed_sign_values_stay_within_the_documented_bound_of_each_neighbour() -> None:
    """Normal data around zero, over 512 samples: each quantile within 0.4% of numpy's (or of its neighbours)."""
    values = np.random.default_rng(7).normal(0.0, 1.0, 3000)
    with isolated_collector() as collector:
        summary = collector.summary("mixed_seconds", description="d", quantiles=[0.1, 0.5, 0.9, 0.99])
        for v in values:
            summary.observe(float(v))
        stats = summary.get_statistics()
    ordered = np.sort(values)
    for q in (0.1, 0.5, 0.9, 0.99):
        position = q * (len(values) - 1)
        neighbours = ordered[math.floor(position)], ordered[math.ceil(position)]
        scale = max(abs(neighbours[0]), abs(neighbours[1]))
        assert abs(stats[f"p{q * 100:g}"] - np.percentile(values, q * 100)) <= 2**-8 * scale


def test_get_sample_value_gives_bucket_counts_as_floats_like_prometheus_client() -> None:
    """``h_bucket{le}`` is a float (1.0, not 1), as every other sample and prometheus_client's lookup."""
    with isolated_collector() as collector:
        collector.histogram("h_seconds", description="d", buckets=[1.0]).observe(0.5)
        found = collector.get_sample_value("h_seconds_bucket", {"le": "1.0"})
    assert found == 1.0 and isinstance(found, float)


@pytest.mark.parametrize("multiprocess", [False, True])
def test_get_sample_value_gives_a_summarys_count_and_sum_of_every_observation(
    tmp_path: Path, multiprocess: bool
) -> None:
    """A summary's ``_count``/``_sum`` are every observation, as exposed, not only the window's."""
    clock = ManualClock()
    collector = MetricsCollector(clock=clock, multiprocess_dir=tmp_path if multiprocess else None)
    try:
        summary = collector.summary("wait_seconds", max_samples=3, max_age=60, unit="s")
        for value in (1.0, 2.0, 3.0, 4.0, 5.0):
            summary.observe(value)
        assert collector.get_sample_value("wait_seconds_count") == 5.0
        assert collector.get_sample_value("wait_seconds_sum") == 15.0
        assert summary.get_statistics()["count"] == 3  # the window keeps the newest three
        clock.advance(120)  # everything ages out of the window; the exported totals stay
        assert collector.get_sample_value("wait_seconds_count") == 5.0
        assert collector.get_sample_value("wait_seconds_sum") == 15.0
    finally:
        collector.shutdown()
