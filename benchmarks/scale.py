"""Load and scale figures (run by ``nox -s bench``): threads, coroutines, series counts, bounded memory, a soak.

Run directly: ``python benchmarks/scale.py [--soak SECONDS]``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PCounter

from rfs_otel import (
    CounterMetric,
    MetricsCollector,
    OTLPStorage,
    PerformanceMonitored,
    PrometheusStorage,
    TimingMetric,
)


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _threads(target: Callable[[], None], count: int) -> float:
    barrier = threading.Barrier(count + 1)

    def run() -> None:
        barrier.wait()
        target()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def bench_threads(threads: int = 8, per_thread: int = 1_000_000) -> None:
    with MetricsCollector() as collector:
        counter = collector.counter("load_total")

        def ours() -> None:
            inc = counter.increment
            for _ in range(per_thread):
                inc()

        took = _threads(ours, threads)
        total = counter.get_value()
    registry = CollectorRegistry()
    p_counter = PCounter("load_total", "d", registry=registry)

    def theirs() -> None:
        inc = p_counter.inc
        for _ in range(per_thread):
            inc()

    p_took = _threads(theirs, threads)
    p_total = registry.get_sample_value("load_total")
    n = threads * per_thread
    print(
        f"{threads} threads x {per_thread:,} increments: rfs_otel total {total:,} (exact: {total == n}), "
        f"{n / took / 1e6:.1f} M/s; prometheus_client total {p_total:,.0f}, {n / p_took / 1e6:.1f} M/s; "
        f"throughput ratio {p_took / took:.2f}x"
    )


def bench_coroutines(count: int = 10_000) -> None:
    with MetricsCollector() as collector:

        @PerformanceMonitored(
            timing_metric=TimingMetric("coro_seconds"),
            counter_metric=CounterMetric("coro_total"),
            collector=collector,
            track_inprogress=True,
        )
        async def handler(i: int) -> int:
            await asyncio.sleep(0)
            return i

        async def plain(i: int) -> int:
            await asyncio.sleep(0)
            return i

        async def run(func: Callable[[int], Any]) -> float:
            start = time.perf_counter()
            await asyncio.gather(*(func(i) for i in range(count)))
            return time.perf_counter() - start

        bare = min(asyncio.run(run(plain)) for _ in range(3))
        decorated = min(asyncio.run(run(handler)) for _ in range(3))
        calls = collector.counter("coro_total").get_value()
        observed = collector.histogram("coro_seconds").get_value()["count"]
        in_flight = collector.gauge("coro_inprogress").get_value()
    print(
        f"{count:,} concurrent decorated coroutines (x3 runs): calls {calls:,.0f}, observations {observed:,}, "
        f"in progress after {in_flight:.0f} (exact: {calls == observed == 3 * count}); "
        f"overhead {(decorated - bare) / count * 1e6:.2f} us per call"
    )


class _NullExporterServer:
    """An OTLP/HTTP endpoint on loopback that accepts everything (to time encoding and sending)."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _peak_mb() -> float:
    """Peak RSS of this process (VmHWM), which a fresh process starts afresh at exec."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6  # MB, like _rss_mb
    raise RuntimeError("VmHWM not in /proc/self/status")


def _one_size(size: int) -> dict[str, Any]:
    """Scrape and export time, RSS growth and peak RSS for ``size`` series, in this (fresh) process.

    Default settings (scope labels and target_info on), as a user gets them.
    """
    sink = _NullExporterServer()
    gc.collect()
    before = _rss_mb()
    prometheus = PrometheusStorage(dashboard=False)
    otlp = OTLPStorage(endpoint=sink.url, protocol="http/protobuf", timeout=120)
    collector = MetricsCollector(storage=[prometheus, otlp], cardinality_limit=size + 10)
    for i in range(size):
        collector.counter("scale_total", labels={"id": str(i)}).increment()
    prometheus.exposition()
    start = time.perf_counter()
    prometheus.exposition()
    scrape = time.perf_counter() - start
    start = time.perf_counter()
    ok = collector.collect_and_store_sync().is_success()
    export = time.perf_counter() - start
    gc.collect()
    memory = _rss_mb() - before
    sink.close()
    return {"scrape": scrape, "export": export, "growth_mb": memory, "peak_mb": _peak_mb(), "ok": ok}


def _fresh(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"scale child {args} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench_series_scaling(sizes: tuple[int, ...] = (1_000, 10_000, 100_000)) -> None:
    """One fresh process per size, so memory figures do not reuse freed arenas."""
    rows = [(size, _fresh("--series", str(size))) for size in sizes]
    print("series    scrape      OTLP export   RSS growth   peak RSS (default settings, fresh process each)")
    for size, r in rows:
        status = "" if r["ok"] else " (FAILED)"
        print(
            f"{size:>7,}  {r['scrape'] * 1e3:8.0f} ms  {r['export'] * 1e3:8.0f} ms{status}  "
            f"{r['growth_mb']:8.1f} MB  {r['peak_mb']:8.1f} MB"
        )
    (s0, r0), (s1, r1) = rows[0], rows[-1]

    def slope(key: str) -> float:
        return float(r1[key] - r0[key]) / (s1 - s0)

    print(
        f"slopes: scrape {slope('scrape') * 1e6:.1f} us/series, export {slope('export') * 1e6:.1f} us/series, "
        f"memory {slope('growth_mb') * 1e6:.0f} B/series"
    )


def _bounded(ids: int) -> dict[str, Any]:
    """RSS at the default cardinality limit and after ``ids`` distinct label values (the rest overflow)."""
    from rfs_otel import MemoryMetricsStorage

    memory = MemoryMetricsStorage(history=1)
    with MetricsCollector(storage=memory) as collector:
        for i in range(2_000):
            collector.counter("logins_total", labels={"user_id": str(i)}).increment()
        memory.collect()
        gc.collect()
        at_limit = _rss_mb()
        for i in range(2_000, ids):
            collector.counter("logins_total", labels={"user_id": str(i)}).increment()
        memory.collect()
        gc.collect()
        after = _rss_mb()
        overflow = [m.value for m in collector.snapshot() if m.labels.get("otel.metric.overflow")]
    return {"at_limit": at_limit, "after": after, "overflow": overflow, "peak_mb": _peak_mb()}


def bench_bounded_memory(ids: int = 1_000_000) -> None:
    r = _fresh("--bounded", str(ids))
    print(
        f"{ids:,} increments over {ids:,} distinct user ids (fresh process): RSS {r['at_limit']:.1f} MB at 2,000 "
        f"series -> {r['after']:.1f} MB after ({r['after'] - r['at_limit']:+.1f} MB), peak {r['peak_mb']:.1f} MB; "
        f"overflow series holds {r['overflow']}"
    )


def bench_soak(seconds: float = 60.0) -> None:
    from rfs_otel._cli.demo import run_demo

    class Quiet:
        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            pass

    samples: list[tuple[float, float, int, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(5):
            samples.append((time.monotonic(), _rss_mb(), threading.active_count(), len(os.listdir("/proc/self/fd"))))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    run_demo(duration=seconds, rate=300, port=0, out=Quiet())  # type: ignore[arg-type]
    stop.set()
    watcher.join()
    warm = [s for s in samples if s[0] - samples[0][0] >= 15] or samples
    rss = [s[1] for s in warm]
    print(
        f"soak {seconds:.0f} s of demo traffic: RSS after warm-up {min(rss):.1f}..{max(rss):.1f} MB "
        f"(spread {max(rss) - min(rss):.1f} MB); threads {sorted({s[2] for s in warm})}; "
        f"open fds {sorted({s[3] for s in warm})}"
    )


def main() -> None:
    if "--series" in sys.argv:
        print(json.dumps(_one_size(int(sys.argv[sys.argv.index("--series") + 1]))))
        return
    if "--bounded" in sys.argv:
        print(json.dumps(_bounded(int(sys.argv[sys.argv.index("--bounded") + 1]))))
        return
    quick = "--quick" in sys.argv
    bench_threads(per_thread=100_000 if quick else 1_000_000)
    bench_coroutines()
    bench_series_scaling((1_000, 10_000) if quick else (1_000, 10_000, 100_000))
    bench_bounded_memory(100_000 if quick else 1_000_000)
    if "--soak" in sys.argv:
        bench_soak(
            float(sys.argv[sys.argv.index("--soak") + 1]) if len(sys.argv) > sys.argv.index("--soak") + 1 else 60.0
        )


if __name__ == "__main__":
    main()
