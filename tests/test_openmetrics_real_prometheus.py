"""A real Prometheus negotiates OpenMetrics with /metrics and its own OpenMetrics parser accepts the body:
``target_info`` as an ``info`` family, a native summary, histograms with the decorator's exemplars.

(promtool's ``check metrics`` reads only the text format - prometheus/prometheus#8932 - so the OpenMetrics body
is proven by Prometheus's scrape parser here, and by prometheus_client's strict parser in test_direct_scrape.)
"""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rfs_otel import MetricsCollector, PerformanceMonitored, PrometheusStorage, TimingMetric

from .servers import get_json, prometheus


def _query(prom: str, path: str, **params: str) -> Any:
    return get_json(f"{prom}{path}?{urllib.parse.urlencode(params)}")["data"]


def test_real_prometheus_parses_the_openmetrics_exposition_and_stores_its_exemplars(tmp_path: Path) -> None:
    """Scraped as OpenMetrics (exemplars exist only there): the samples are queryable, the summary's quantile
    too, and the timing's exemplar carries the traced call's trace id."""
    spans = InMemorySpanExporter()
    tracing = TracerProvider()
    tracing.add_span_processor(SimpleSpanProcessor(spans))
    storage = PrometheusStorage(port=0, dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        collector.summary("payload_bytes", description="Payload sizes").observe(512.0)
        monitor = PerformanceMonitored(
            timing_metric=TimingMetric("op_duration_seconds"), collector=collector, trace=True, tracer_provider=tracing
        )
        monitor(lambda: None)()
        (span,) = spans.get_finished_spans()
        assert span.context is not None
        target = f"127.0.0.1:{storage.port}"
        with prometheus(tmp_path, target, features=("exemplar-storage",)) as prom:
            deadline = time.monotonic() + 40
            found: list[Any] = []
            quantile: list[Any] = []
            while time.monotonic() < deadline and not (found and quantile):
                now = str(time.time())
                found = _query(
                    prom, "/api/v1/query_exemplars", query="op_duration_seconds_bucket", start=str(0), end=now
                )
                quantile = _query(prom, "/api/v1/query", query='payload_bytes{quantile="0.5"}')["result"]
                time.sleep(0.5)
            up = _query(prom, "/api/v1/query", query="up")["result"]
            info = _query(prom, "/api/v1/query", query="target_info")["result"]
    assert [float(r["value"][1]) for r in up] == [1.0]
    assert info, "target_info (an OpenMetrics info family) was not ingested"
    assert quantile and float(quantile[0]["value"][1]) == 512.0
    exemplars = [e for series in found for e in series["exemplars"]]
    assert [e["labels"]["trace_id"] for e in exemplars] == [f"{span.context.trace_id:032x}"]
