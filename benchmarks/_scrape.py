"""Scrape and export figures: ``/metrics`` of many series against ``generate_latest``, OTLP against the raw SDK.

The peer registry is given the labels and the ``target_info`` family rfs_otel writes (read from rfs_otel's
own output), ``_created`` lines are off, and both outputs are checked equal before anything is timed.
"""

from __future__ import annotations

import inspect
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from _equal import TargetInfo, defaults_of, verdict
from _timing import Row, Settings, count, paired, rounds_of_calls
from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest
from prometheus_client import Counter as PCounter
from prometheus_client import Histogram as PHistogram

from rfs_otel import MetricsCollector, OTLPStorage, PrometheusStorage

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def build_ours(kind: str, size: int, defaults: bool) -> tuple[MetricsCollector, PrometheusStorage]:
    """A collector with ``size`` counter or histogram series ``{id="<i>"}``, exposed by a PrometheusStorage."""
    storage = PrometheusStorage(scope_labels=defaults, target_info=defaults, dashboard=False)
    collector = MetricsCollector(storage=storage, cardinality_limit=size + 10)
    for i in range(size):
        if kind == "counter":
            collector.counter("scrape_total", "Scraped", labels={"id": str(i)}).increment()
        else:
            collector.histogram("scrape_seconds", BUCKETS, "Scraped", labels={"id": str(i)}).observe(0.3)
    return collector, storage


def build_peer(kind: str, size: int, exposition: bytes) -> CollectorRegistry:
    """A prometheus_client registry writing what ``exposition`` holds: same labels, same ``target_info``."""
    disable_created_metrics()
    scope, target = defaults_of(exposition)
    registry = CollectorRegistry()
    names, extra = ["id", *scope], list(scope.values())
    if kind == "counter":
        counter = PCounter("scrape_total", "Scraped", names, registry=registry)
        for i in range(size):
            counter.labels(str(i), *extra).inc()
    else:
        hist = PHistogram("scrape_seconds", "Scraped", names, buckets=BUCKETS, registry=registry)
        for i in range(size):
            hist.labels(str(i), *extra).observe(0.3)
    if target is not None:
        registry.register(TargetInfo(target))
    return registry


def scrape_row(kind: str, size: int, defaults: bool, settings: Settings, target: float | None) -> Row:
    """Time ``PrometheusStorage.exposition()`` against ``generate_latest`` on equal content."""
    collector, storage = build_ours(kind, size, defaults)
    ours_text = storage.exposition()
    registry = build_peer(kind, size, ours_text)
    same, note = verdict(f"{size} {kind} scrape", ours_text, generate_latest(registry))
    times = rounds_of_calls({"ours": storage.exposition, "peer": lambda: generate_latest(registry)}, settings)
    ratio, a, b = paired(times)
    collector.shutdown()
    setting = "default settings (scope labels + target_info)" if defaults else "scope_labels=False, target_info=False"
    return Row(
        f"{count(size)} {kind} series /metrics, {setting}",
        "PrometheusStorage.exposition(): collect, render facade series directly (label texts cached), write text",
        "generate_latest(registry), _created off, same labels + target_info"
        if defaults
        else "generate_latest(registry), _created off, same labels",
        a,
        b,
        ratio,
        target,
        like_for_like=same,
        note=note,
        headline=defaults,
    )


def scrape_rows(settings: Settings) -> list[Row]:
    """Counter scrapes at 10k and 100k series, histogram scrape at 10k, each also without the defaults."""
    small, large = (200, 500) if settings.quick else (10_000, 100_000)
    rows = []
    for kind, size in (("counter", small), ("counter", large), ("histogram", small)):
        rows.append(scrape_row(kind, size, True, settings, 0.5))
        rows.append(scrape_row(kind, size, False, settings, None))
    return rows


class Sink:
    """An OTLP/HTTP endpoint on loopback that accepts everything and keeps the last body (for the equality check)."""

    def __init__(self) -> None:
        sink = self
        self.last = b""

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                sink.last = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1/metrics"

    def points(self) -> set[tuple[str, frozenset[tuple[str, str]]]]:
        """(metric name, attributes) of every data point in the last request."""
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

        request = ExportMetricsServiceRequest.FromString(self.last)
        out = set()
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.sum.data_points:
                        attrs = frozenset((a.key, a.value.string_value) for a in point.attributes)
                        out.add((metric.name, attrs))
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def otlp_row(settings: Settings) -> Row:
    """Collect + encode (protobuf) + POST to a loopback sink, rfs_otel against the raw SDK and its exporter."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import Counter, MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    size = 500 if settings.quick else 100_000
    sink = Sink()
    collector = MetricsCollector(
        storage=OTLPStorage(endpoint=sink.url, protocol="http/protobuf", timeout=120), cardinality_limit=size + 10
    )
    # SDK 1.45.0 (the oldest supported) has no cardinality_limits; the quick run stays under its default limit.
    limits = {"cardinality_limits": {Counter: size + 10}} if _takes(InMemoryMetricReader, "cardinality_limits") else {}
    reader = InMemoryMetricReader(**limits)
    provider = MeterProvider(metric_readers=[reader])
    exporter = OTLPMetricExporter(endpoint=sink.url, timeout=120)
    counter = provider.get_meter("rfs_otel").create_counter("export_total")
    for i in range(size):
        collector.counter("export_total", labels={"id": str(i)}).increment()
        counter.add(1, {"id": str(i)})

    def ours() -> Any:
        if not collector.collect_and_store_sync().is_success():
            raise RuntimeError("rfs_otel OTLP export failed")

    def peer() -> Any:
        data = reader.get_metrics_data()
        if data is None or exporter.export(data, timeout_millis=120_000).name != "SUCCESS":
            raise RuntimeError("raw SDK OTLP export failed")

    ours()
    ours_points = sink.points()
    peer()
    peer_points = sink.points()
    same = ours_points == peer_points and len(ours_points) == size
    note = (
        "data points checked equal"
        if same
        else (f"data points differ: {len(ours_points)} vs {len(peer_points)} ({len(ours_points ^ peer_points)} differ)")
    )
    if not same:
        print(f"!!! OTLP export: {note}; the ratio is NOT like-for-like")
    times = rounds_of_calls({"ours": ours, "peer": peer}, settings)
    ratio, a, b = paired(times)
    collector.shutdown()
    provider.shutdown()
    exporter.shutdown()
    sink.close()
    return Row(
        f"OTLP collect + encode + POST, {count(size)} counter series",
        "collect_and_store_sync() with OTLPStorage(http/protobuf) to a loopback sink",
        "InMemoryMetricReader.get_metrics_data() + OTLPMetricExporter(http).export() to the same sink",
        a,
        b,
        ratio,
        0.5,
        like_for_like=same,
        note=note,
    )


def _takes(cls: type, argument: str) -> bool:
    """Whether ``cls(...)`` accepts ``argument`` (the oldest supported SDK lacks some)."""
    return argument in inspect.signature(cls.__init__).parameters
