"""rfs_otel benchmarks: ratios against prometheus_client and the raw OTel SDK, measured in one process.

Run with ``nox -s bench`` (or ``python benchmarks/bench.py``). Each figure is the best of several
repeats of the same call form for both sides; ratios below 1.0 mean rfs_otel is faster.
"""

from __future__ import annotations

import gc
import math
import os
import random
import statistics
import sys
import time
import timeit
import tracemalloc
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.metrics import Counter as OtelCounter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as PCounter
from prometheus_client import Gauge as PGauge
from prometheus_client import Histogram as PHistogram
from prometheus_client import Summary as PSummary

from rfs_otel import (
    AlertManager,
    AlertRule,
    CounterMetric,
    MemoryMetricsStorage,
    MetricsCollector,
    PerformanceMonitored,
    PrometheusStorage,
    TimingMetric,
)

QUICK = "--quick" in sys.argv
N = 50_000 if QUICK else 300_000
REPEAT = 3 if QUICK else 7
ROWS: list[tuple[str, str, float, float, str]] = []


def per_call_ns(func: Callable[[], Any], number: int = N) -> float:
    return min(timeit.repeat(func, number=number, repeat=REPEAT)) / number * 1e9


def row(operation: str, peer: str, ours: float, theirs: float, target: str) -> None:
    ROWS.append((operation, peer, ours, theirs, target))


def bench_hot_paths() -> None:
    registry = CollectorRegistry()
    p_counter = PCounter("bench_total", "d", ["a"], registry=registry).labels("1")
    p_hist = PHistogram("bench_seconds", "d", ["a"], registry=registry).labels("1")
    p_summary = PSummary("bench_summary_seconds", "d", ["a"], registry=registry).labels("1")
    p_gauge = PGauge("bench_gauge", "d", ["a", "b"], registry=registry)

    collector = MetricsCollector(storage=MemoryMetricsStorage())
    counter = collector.counter("bench_total", labels={"a": "1"})
    hist = collector.histogram("bench_seconds", labels={"a": "1"})
    summary = collector.summary("bench_summary_seconds", labels={"a": "1"})
    gauge = collector.gauge("bench_gauge", labels={"a": "1"})

    inc = counter.increment
    p_inc = p_counter.inc
    row("bound counter.increment()", "prometheus_client child.inc()", per_call_ns(inc), per_call_ns(p_inc), "<= 0.5x")
    row(
        "bound histogram.observe(v)",
        "prometheus_client child.observe(v)",
        per_call_ns(lambda: hist.observe(0.3)),
        per_call_ns(lambda: p_hist.observe(0.3)),
        "<= 0.5x",
    )
    row(
        "gauge.set(v, labels={..})",
        "prometheus_client .labels(..).set(v)",
        per_call_ns(lambda: gauge.set(3, labels={"b": "x"})),
        per_call_ns(lambda: p_gauge.labels("1", "x").set(3)),
        "<= 1.0x",
    )
    row(
        "summary.observe(v), p50/p90/p95/p99",
        "prometheus_client Summary.observe (no quantiles)",
        per_call_ns(lambda: summary.observe(0.3)),
        per_call_ns(lambda: p_summary.observe(0.3)),
        "<= 1.0x",
    )

    p_timed_hist = PHistogram("bench_decorated_seconds", "d", registry=registry)

    @p_timed_hist.time()
    def p_decorated(x: int) -> int:
        return x

    @PerformanceMonitored(
        timing_metric=TimingMetric("bench_decorated_seconds"),
        counter_metric=CounterMetric("bench_decorated_total"),
        error_counter=CounterMetric("bench_decorated_errors_total"),
        collector=collector,
    )
    def decorated(x: int) -> int:
        return x

    def plain(x: int) -> int:
        return x

    bare = per_call_ns(lambda: plain(1))
    row(
        "@PerformanceMonitored sync call overhead",
        "prometheus_client @Histogram.time() overhead",
        per_call_ns(lambda: decorated(1)) - bare,
        per_call_ns(lambda: p_decorated(1)) - bare,
        "<= 1.0x",
    )

    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    otel_counter = provider.get_meter("bench").create_counter("bench_total")
    attrs = {"a": "1"}
    row(
        "bound counter.increment()",
        "raw OTel SDK counter.add(1, attrs)",
        per_call_ns(inc),
        per_call_ns(lambda: otel_counter.add(1, attrs), N // 10),
        "<= 0.05x",
    )
    provider.shutdown()
    collector.shutdown()


def bench_summary_accuracy() -> None:
    rng = random.Random(42)
    data = [rng.lognormvariate(-2.0, 1.2) for _ in range(10_000)]
    with MetricsCollector() as collector:
        summary = collector.summary("accuracy_seconds", max_samples=10_000)
        for v in data:
            summary.observe(v)
        stats = summary.get_statistics()
    exact = statistics.quantiles(data, n=100, method="inclusive")
    for key, q_index in (("p95", 94), ("p99", 98)):
        error = abs(stats[key] - exact[q_index]) / exact[q_index]
        print(
            f"summary {key} relative error vs exact quantile of the window (log-normal, 10k): {error:.2e}"
            " (target <= 1e-2)"
        )


def _measure_bytes(build: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    keep = build()
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    total = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return total, keep


def bench_memory(series: int = 10_000) -> None:
    def ours() -> Any:
        memory = MemoryMetricsStorage(history=1)
        collector = MetricsCollector(storage=memory, cardinality_limit=series + 10)
        for i in range(series):
            collector.counter("mem_total", labels={"user": str(i)}).increment()
        memory.collect()
        return collector

    def raw_otel() -> Any:
        reader = InMemoryMetricReader(cardinality_limits={OtelCounter: series + 10})  # no folding either side
        provider = MeterProvider(metric_readers=[reader])
        counter = provider.get_meter("bench").create_counter("mem_total")
        for i in range(series):
            counter.add(1, {"user": str(i)})
        reader.get_metrics_data()
        return provider

    def prom() -> Any:
        registry = CollectorRegistry()
        counter = PCounter("mem_total", "d", ["user"], registry=registry)
        for i in range(series):
            counter.labels(str(i)).inc()
        return registry

    results = {}
    for name, build in (("rfs_otel (facade + SDK)", ours), ("raw OTel SDK", raw_otel), ("prometheus_client", prom)):
        size, keep = _measure_bytes(build)
        results[name] = size / series
        del keep
    ours_b = results["rfs_otel (facade + SDK)"]
    for name, value in results.items():
        print(f"memory per counter series, {name}: {value:,.0f} B")
    print(
        f"  ratio rfs_otel / raw OTel SDK: {ours_b / results['raw OTel SDK']:.2f}x (target <= 1x); "
        f"/ prometheus_client: {ours_b / results['prometheus_client']:.2f}x"
    )


def bench_scrape(series: int = 10_000) -> None:
    registry = CollectorRegistry()
    counter = PCounter("scrape_total", "d", ["id"], registry=registry)
    for i in range(series):
        counter.labels(str(i)).inc()
    theirs = min(_timed(lambda: generate_latest(registry)) for _ in range(3))
    for scope_labels in (False, True):
        storage = PrometheusStorage(port=0, scope_labels=scope_labels, target_info=scope_labels)
        with MetricsCollector(storage=storage, cardinality_limit=series + 10) as collector:
            for i in range(series):
                collector.counter("scrape_total", "Scraped", labels={"id": str(i)}).increment()
            storage.exposition()
            ours = min(_timed(storage.exposition) for _ in range(3))
        what = "with OTel scope labels (3 more labels per series)" if scope_labels else "same labels as the peer"
        print(f"{series:,} series, scrape of /metrics, {what}: rfs_otel {ours * 1e3:.0f} ms, prometheus_client "
              f"generate_latest {theirs * 1e3:.0f} ms, ratio {ours / theirs:.2f}x (target <= 1x)")


def _timed(func: Callable[[], Any]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def _rss() -> float:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def bench_bounded_memory(ids: int = 1_000_000) -> None:
    memory = MemoryMetricsStorage(history=1)
    with MetricsCollector(storage=memory) as collector:
        for i in range(2_000):
            collector.counter("logins_total", labels={"user_id": str(i)}).increment()
        memory.collect()
        gc.collect()
        at_limit = _rss()
        for i in range(2_000, ids):
            collector.counter("logins_total", labels={"user_id": str(i)}).increment()
        memory.collect()
        gc.collect()
        after = _rss()
        [record] = [m for m in collector.snapshot() if m.labels.get("otel.metric.overflow")]
    print(
        f"{ids:,} increments over {ids:,} distinct user ids: RSS {at_limit:.1f} MB at 2,000 series -> "
        f"{after:.1f} MB after ({after - at_limit:+.1f} MB); overflow series holds {record.value:,.0f}"
    )


def bench_alert_rules(count: int = 1000) -> None:
    with MetricsCollector() as collector:
        for i in range(100):
            collector.counter("req_total", labels={"shard": str(i)}).increment(i)
        rules = [
            AlertRule(
                f"r{i}",
                "req_total",
                "gt",
                10**6,
                labels={"shard": str(i % 100)},
                aggregation="rate" if i % 2 else "value",
            )
            for i in range(count)
        ]
        manager = AlertManager(collector, rules, interval=15)
        manager.evaluate_once()
        start = time.perf_counter()
        manager.evaluate_once()
        took = time.perf_counter() - start
    print(f"alert evaluation: {count:,} rules in {took * 1e3:.0f} ms ({took / 15 * 100:.1f}% of a 15 s interval)")


def main() -> None:
    print(f"python {sys.version.split()[0]}, {N:,} calls x {REPEAT} repeats per figure\n")
    bench_hot_paths()
    width = max(len(r[0]) + len(r[1]) for r in ROWS) + 8
    print(f"{'operation vs peer':<{width}} {'ours':>9} {'peer':>9} {'ratio':>7}  target")
    for operation, peer, ours, theirs, target in ROWS:
        label = f"{operation} vs {peer}"
        ratio = ours / theirs
        limit = float(target.split()[1].rstrip("x"))
        flag = "ok" if ratio <= limit else "MISSED"
        print(f"{label:<{width}} {ours:>7.0f}ns {theirs:>7.0f}ns {ratio:>6.2f}x  {target} {flag}")
    print()
    bench_summary_accuracy()
    print()
    bench_memory(2_000 if QUICK else 10_000)
    print()
    bench_scrape(2_000 if QUICK else 10_000)
    print()
    bench_alert_rules()
    print()
    bench_bounded_memory(100_000 if QUICK else 1_000_000)
    assert math.isfinite(sum(r[2] for r in ROWS))


if __name__ == "__main__":
    main()
