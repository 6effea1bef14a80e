"""Hot-path figures: one call of rfs_otel against the same call form of prometheus_client or the raw OTel SDK.

Every statement runs in the same bare loop on both sides (so loop overhead, shared by both, pulls ratios
towards 1, never away from it); bound objects are looked up once outside the loop on both sides.
"""

from __future__ import annotations

import functools
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from _timing import Row, Settings, paired, rounds
from _worst import worst_observe_row
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PCounter
from prometheus_client import Gauge as PGauge
from prometheus_client import Histogram as PHistogram
from prometheus_client import Summary as PSummary

from rfs_otel import MetricsCollector, PerformanceMonitored

T = TypeVar("T")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _pair(
    name: str,
    ours: str,
    peer: str,
    stmts: tuple[str, str],
    ns: dict[str, Any],
    settings: Settings,
    target: float | None,
    headline: bool = True,
) -> Row:
    times = rounds({"ours": stmts[0], "peer": stmts[1]}, ns, settings)
    ratio, a, b = paired(times)
    return Row(name, ours, peer, a, b, ratio, target, headline=headline)


def prom_async_time(histogram: Any) -> Callable[[Callable[..., Awaitable[T]]], Callable[..., Coroutine[Any, Any, T]]]:
    """prometheus_client's ``@Histogram.time()`` done right for ``async def``: times the await, not the creation."""

    def decorate(func: Callable[..., Awaitable[T]]) -> Callable[..., Coroutine[Any, Any, T]]:
        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> T:
            start = time.perf_counter()
            try:
                return await func(*args, **kwargs)
            finally:
                histogram.observe(max(time.perf_counter() - start, 0))

        return wrapper

    return decorate


def drive(coroutine: Coroutine[Any, Any, Any]) -> None:
    """Run a coroutine that never suspends to completion without an event loop (same cost on both sides)."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    raise RuntimeError("benchmark coroutine suspended")


def instrument_rows(settings: Settings) -> list[Row]:
    """Counter, histogram, gauge and summary calls against prometheus_client, and the counter against raw OTel."""
    registry = CollectorRegistry()
    collector = MetricsCollector()
    ns: dict[str, Any] = {
        "inc": collector.counter("c_total", labels={"a": "1"}).increment,
        "p_inc": PCounter("c_total", "d", ["a"], registry=registry).labels("1").inc,
        "counter": collector.counter("u_total"),
        "p_counter": PCounter("u_total", "d", ["a"], registry=registry),
        "observe": collector.histogram("h_seconds", BUCKETS, labels={"a": "1"}).observe,
        "p_observe": PHistogram("h_seconds", "d", ["a"], buckets=BUCKETS, registry=registry).labels("1").observe,
        "gauge": collector.gauge("g"),
        "p_gauge": PGauge("g", "d", ["a", "b"], registry=registry),
        "s_observe": collector.summary("s_seconds", labels={"a": "1"}).observe,
        "p_s_observe": PSummary("s_seconds", "d", ["a"], registry=registry).labels("1").observe,
    }
    collector.counter("u_total", labels={"a": "1"}).increment()
    rows = [
        _pair(
            "bound counter.increment()",
            "increment a bound series (no argument)",
            "child.inc() on a bound child (takes its lock)",
            ("inc()", "p_inc()"),
            ns,
            settings,
            0.3,
        ),
        _pair(
            "unbound counter.increment()",
            "collector.counter(name, labels={'a': '1'}).increment()",
            "counter.labels('1').inc()",
            ("collector.counter('u_total', labels={'a': '1'}).increment()", "p_counter.labels('1').inc()"),
            {**ns, "collector": collector},
            settings,
            None,
            headline=False,
        ),
        _pair(
            "bound histogram.observe(v)",
            "observe into 11 explicit buckets of a bound series",
            "child.observe(v): same 11 buckets, bound child",
            ("observe(0.3)", "p_observe(0.3)"),
            ns,
            settings,
            0.5,
        ),
        _pair(
            "gauge.set(v, labels={..})",
            "set(v, labels={'a': '1', 'b': 'x'}) with a new dict literal",
            "gauge.labels('1', 'x').set(v)",
            ("gauge.set(3.0, labels={'a': '1', 'b': 'x'})", "p_gauge.labels('1', 'x').set(3.0)"),
            ns,
            settings,
            0.6,
        ),
        _pair(
            "summary.observe(v) with quantiles",
            "bound; window of 10k samples, p50/p90/p95/p99 readable",
            "bound child.observe(v): count and sum only, no quantiles",
            ("s_observe(0.3)", "p_s_observe(0.3)"),
            ns,
            settings,
            0.6,
        ),
    ]
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    ns["otel_add"] = provider.get_meter("bench").create_counter("o_total").add
    ns["attrs"] = {"a": "1"}
    rows.append(
        _pair(
            "bound counter.increment() vs raw OTel",
            "increment a bound series (no argument)",
            "raw OTel SDK counter.add(1, attrs) (attribute lookup per call)",
            ("inc()", "otel_add(1, attrs)"),
            ns,
            settings,
            0.05,
        )
    )
    provider.shutdown()
    collector.shutdown()
    return rows


def decorator_rows(settings: Settings) -> list[Row]:
    """``@PerformanceMonitored()`` overhead (decorated minus plain call) against prometheus_client's timer."""
    registry = CollectorRegistry()
    collector = MetricsCollector()
    hist = PHistogram("p_sync_seconds", "d", registry=registry)
    ahist = PHistogram("p_async_seconds", "d", registry=registry)

    def plain(x: int) -> int:
        return x

    async def aplain(x: int) -> int:
        return x

    ns = {
        "plain": plain,
        "aplain": aplain,
        "drive": drive,
        "ours": PerformanceMonitored(collector=collector)(plain),
        "peer": hist.time()(plain),
        "aours": PerformanceMonitored(collector=collector)(aplain),
        "apeer": prom_async_time(ahist)(aplain),
    }
    sync = rounds({"base": "plain(1)", "ours": "ours(1)", "peer": "peer(1)"}, ns, settings)
    ratio, a, b = paired(sync, base="base")
    rows = [
        Row(
            "sync @PerformanceMonitored() overhead",
            "time the call, observe a histogram, count the call (errors counted on raise)",
            "@Histogram.time(): time the call, observe a histogram",
            a,
            b,
            ratio,
            0.6,
            note="overhead = decorated minus plain call, per round",
        )
    ]
    aio = rounds({"base": "drive(aplain(1))", "ours": "drive(aours(1))", "peer": "drive(apeer(1))"}, ns, settings)
    ratio, a, b = paired(aio, base="base")
    rows.append(
        Row(
            "async @PerformanceMonitored() overhead",
            "time the awaited coroutine, observe a histogram, count the call",
            "awaiting wrapper (written here): time the await, Histogram.observe",
            a,
            b,
            ratio,
            None,
            note="prometheus_client's @time() on async def would time only coroutine creation",
        )
    )
    collector.shutdown()
    return rows


def summary_rows(settings: Settings) -> list[Row]:
    """Worst single ``summary.observe`` at a 100k window, and ``get_statistics()`` at 10k and 100k windows."""
    rng = random.Random(7)
    values = [rng.lognormvariate(-2.0, 1.2) for _ in range(4096)]
    rows = [worst_observe_row(settings)]
    with MetricsCollector() as collector:
        for window in (10_000, 100_000):
            summary = collector.summary(f"stats_{window}_seconds", max_samples=window)
            for i in range(window):
                summary.observe(values[i & 4095])
            times = rounds({"ours": "s.observe(0.3); s.get_statistics()"}, {"s": summary}, settings)
            rows.append(
                Row(
                    f"summary.get_statistics() at a {window // 1000}k window",
                    "one observe (so nothing is cached) then get_statistics()",
                    "absolute",
                    statistics.median(times["ours"]),
                    None,
                    None,
                    100_000,
                    absolute=True,
                )
            )
    return rows


def fmt(ns: float) -> str:
    return f"{ns / 1000:.2f} us"
