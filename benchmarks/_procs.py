"""Fresh-process figures: peak RSS of a large scrape, and a multiprocess scrape over four live workers.

Run as a script it is the child side: ``_procs.py memory ours|peer SIZE LABELS_JSON [--trace]`` prints one
JSON line; ``_procs.py worker ours|peer DIR SIZE LABELS_JSON`` fills a multiprocess directory, prints
``ready`` and waits for its stdin to close.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from typing import Any

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HERE = os.path.dirname(os.path.abspath(__file__))


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _child_memory(side: str, size: int, labels: dict[str, Any], trace: bool) -> dict[str, float]:
    """Build ``size`` counter series with the default settings, scrape once, report peak memory."""
    import tracemalloc

    if side == "ours":
        from rfs_otel import MetricsCollector, PrometheusStorage

        storage = PrometheusStorage(dashboard=False)
        collector = MetricsCollector(storage=storage, cardinality_limit=size + 10)
        baseline = _status_kb("VmRSS")
        if trace:
            tracemalloc.start()
        for i in range(size):
            collector.counter("scrape_total", "Scraped", labels={"id": str(i)}).increment()
        body = storage.exposition()
    else:
        from _equal import TargetInfo
        from prometheus_client import CollectorRegistry, Counter, disable_created_metrics, generate_latest

        disable_created_metrics()
        registry = CollectorRegistry()
        scope = labels["scope"]
        counter = Counter("scrape_total", "Scraped", ["id", *scope], registry=registry)
        if labels["target"] is not None:
            registry.register(TargetInfo(labels["target"]))
        baseline = _status_kb("VmRSS")
        if trace:
            tracemalloc.start()
        extra = list(scope.values())
        for i in range(size):
            counter.labels(str(i), *extra).inc()
        body = generate_latest(registry)
    out = {
        "baseline_kb": baseline,
        "vmhwm_kb": _status_kb("VmHWM"),
        # ru_maxrss is kept for reference only: Linux carries the parent's peak across fork + exec
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "bytes": len(body),
    }
    if trace:
        out["traced_peak_bytes"] = tracemalloc.get_traced_memory()[1]
    return out


def _child_worker(side: str, directory: str, size: int, labels: dict[str, Any]) -> None:
    """A live worker that recorded ``size`` counter and ``size`` histogram series into ``directory``."""
    if side == "ours":
        from rfs_otel import MetricsCollector

        collector = MetricsCollector(multiprocess_dir=directory, cardinality_limit=size + 10)
        for i in range(size):
            collector.counter("mp_total", "Requests", labels={"id": str(i)}).increment()
            collector.histogram("mp_seconds", BUCKETS, "Latency", labels={"id": str(i)}).observe(0.3)
    else:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        registry = CollectorRegistry()
        scope = labels["scope"]
        counter = Counter("mp_total", "Requests", ["id", *scope], registry=registry)
        hist = Histogram("mp_seconds", "Latency", ["id", *scope], buckets=BUCKETS, registry=registry)
        extra = list(scope.values())
        for i in range(size):
            counter.labels(str(i), *extra).inc()
            hist.labels(str(i), *extra).observe(0.3)
    print("ready", flush=True)
    sys.stdin.read()


def _run_child(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, os.path.join(HERE, "_procs.py"), *args], capture_output=True, text=True, env=env, timeout=900
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {args[:3]} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def default_labels() -> dict[str, Any]:
    """The scope labels and ``target_info`` labels rfs_otel writes with its default settings."""
    from _equal import defaults_of

    from rfs_otel import MetricsCollector, PrometheusStorage

    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("probe_total").increment()
        scope, target = defaults_of(storage.exposition())
    return {"scope": scope, "target": target}


def memory_row(settings: Any) -> Any:
    """Peak RSS of building and scraping 100k counter series, one fresh process per run, interleaved."""
    from _timing import Row, count

    size = 1_000 if settings.quick else 100_000
    runs = 1 if settings.quick else 3
    labels = json.dumps(default_labels())
    ours, peer = [], []
    for _ in range(runs):
        ours.append(_run_child(["memory", "ours", str(size), labels]))
        peer.append(_run_child(["memory", "peer", str(size), labels]))
    ratio = statistics.median(o["vmhwm_kb"] / p["vmhwm_kb"] for o, p in zip(ours, peer))
    growth = statistics.median(
        (o["vmhwm_kb"] - o["baseline_kb"]) / (p["vmhwm_kb"] - p["baseline_kb"]) for o, p in zip(ours, peer)
    )
    traced_o = _run_child(["memory", "ours", str(size), labels, "--trace"])["traced_peak_bytes"]
    traced_p = _run_child(["memory", "peer", str(size), labels, "--trace"])["traced_peak_bytes"]
    peak_o = statistics.median(o["vmhwm_kb"] for o in ours) / 1024
    peak_p = statistics.median(p["vmhwm_kb"] for p in peer) / 1024
    same_size = {o["bytes"] for o in ours} == {p["bytes"] for p in peer}
    note = (
        f"peak RSS (VmHWM) {peak_o:.0f} MB vs {peak_p:.0f} MB; growth above the imports {growth:.2f}x; "
        f"tracemalloc peak {traced_o / 1e6:.0f} MB vs {traced_p / 1e6:.0f} MB (separate traced processes); "
        f"{runs} fresh process(es) a side" + ("" if same_size else "; exposition sizes DIFFER")
    )
    return Row(
        f"peak RSS, {count(size)} counter series built and scraped (fresh processes)",
        "MetricsCollector + PrometheusStorage defaults, one exposition()",
        "registry with the same labels + target_info, one generate_latest()",
        None,
        None,
        ratio,
        0.7,
        like_for_like=same_size,
        note=note,
        extra={"ours_text": f"{peak_o:.0f} MB", "peer_text": f"{peak_p:.0f} MB"},
    )


def _start_workers(side: str, directory: str, size: int, labels: str) -> list[subprocess.Popen[str]]:
    env = dict(os.environ)
    if side == "peer":
        env["PROMETHEUS_MULTIPROC_DIR"] = directory
    procs = [
        subprocess.Popen(
            [sys.executable, os.path.join(HERE, "_procs.py"), "worker", side, directory, str(size), labels],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{side} multiprocess worker did not start")
    return procs


def multiprocess_row(settings: Any) -> Any:
    """Scrape of four live workers' directory: rfs_otel multiprocess mode against MultiProcessCollector."""
    from _equal import TargetInfo, defaults_of, verdict
    from _timing import Row, count, paired, rounds_of_calls
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    from rfs_otel import MetricsCollector, PrometheusStorage

    size = 200 if settings.quick else 10_000
    labels = default_labels()
    ours_dir, peer_dir = tempfile.mkdtemp(prefix="bench_ours_"), tempfile.mkdtemp(prefix="bench_peer_")
    workers = _start_workers("ours", ours_dir, size, json.dumps(labels))
    workers += _start_workers("peer", peer_dir, size, json.dumps(labels))
    try:
        storage = PrometheusStorage(dashboard=False)
        collector = MetricsCollector(storage=storage, multiprocess_dir=ours_dir, cardinality_limit=size + 10)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=peer_dir)
        target = defaults_of(storage.exposition())[1]  # the workers' shared service.instance.id, as exported
        if target is not None:
            registry.register(TargetInfo(target))
        same, note = verdict("multiprocess scrape", storage.exposition(), generate_latest(registry))
        times = rounds_of_calls({"ours": storage.exposition, "peer": lambda: generate_latest(registry)}, settings)
        ratio, a, b = paired(times)
        collector.shutdown()
    finally:
        for proc in workers:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=60)
        shutil.rmtree(ours_dir, ignore_errors=True)
        shutil.rmtree(peer_dir, ignore_errors=True)
    return Row(
        f"multiprocess scrape, 4 live workers x ({count(size)} counter + {count(size)} histogram series)",
        "exposition() of MetricsCollector(multiprocess_dir=...): merge the workers' mmap files",
        "generate_latest() with MultiProcessCollector over PROMETHEUS_MULTIPROC_DIR, same labels + target_info",
        a,
        b,
        ratio,
        0.25,
        like_for_like=same,
        note=note,
    )


def main(argv: list[str]) -> None:
    if argv[0] == "memory":
        print(json.dumps(_child_memory(argv[1], int(argv[2]), json.loads(argv[3]), "--trace" in argv)))
    elif argv[0] == "worker":
        _child_worker(argv[1], argv[2], int(argv[3]), json.loads(argv[4]))
    else:
        raise SystemExit(f"unknown child command {argv[0]!r}; expected 'memory' or 'worker'")


if __name__ == "__main__":
    main(sys.argv[1:])
