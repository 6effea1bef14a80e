"""Summaries export as real summaries: Prometheus ``summary`` families, OTLP ``Summary`` points, memory and files."""

from __future__ import annotations

import asyncio
import importlib
import math
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from rfs_otel import FileMetricsStorage, MemoryMetricsStorage, MetricsCollector, OTLPStorage, PrometheusStorage
from rfs_otel.testing import ManualClock

from .otlp_receivers import grpc_receiver, http_receiver
from .servers import get_json, prometheus, promtool_check_metrics

QUANTILES = (0.5, 0.9, 0.95, 0.99)


def _observe_1_to_100(collector: MetricsCollector, **options: Any) -> None:
    summary = collector.summary("request_processing_seconds", description="Processing time", **options)
    for i in range(1, 101):
        summary.observe(i / 100, labels={"path": "/a"})


def _family(text: str, name: str) -> Any:
    return next(f for f in text_string_to_metric_families(text) if f.name == name)


def _own(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if not k.startswith("otel_scope")}


def test_prometheus_exposition_is_a_summary_family_with_quantiles_sum_and_count() -> None:
    """The family has TYPE summary, one {quantile="q"} sample per quantile, then _sum and _count."""
    storage = PrometheusStorage(port=0)
    with MetricsCollector(storage=storage) as collector:
        _observe_1_to_100(collector)
        text = storage.exposition().decode()
    assert "# TYPE request_processing_seconds summary" in text
    family = _family(text, "request_processing_seconds")
    assert family.type == "summary"
    samples = {(s.name, tuple(sorted(_own(s.labels).items()))): s.value for s in family.samples}
    for q in QUANTILES:  # numpy's linear quantile of 0.01 ... 1.00
        assert samples[("request_processing_seconds", (("path", "/a"), ("quantile", str(q))))] == pytest.approx(
            (1 + 99 * q) / 100
        )
    assert samples[("request_processing_seconds_sum", (("path", "/a"),))] == pytest.approx(50.5)
    assert samples[("request_processing_seconds_count", (("path", "/a"),))] == 100
    assert "request_processing_seconds_p95" not in text and "request_processing_seconds_bucket" not in text


def test_prometheus_summary_passes_promtool_check_metrics() -> None:
    """promtool accepts the exposition, units and scope labels included."""
    storage = PrometheusStorage(port=0)
    with MetricsCollector(storage=storage) as collector:
        _observe_1_to_100(collector, unit="s")
        collector.summary("job_duration_seconds", description="Jobs").observe(0.2)
        text = storage.exposition()
    result = promtool_check_metrics(text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_real_prometheus_answers_a_quantile_query(tmp_path: Path) -> None:
    """Prometheus scrapes the endpoint; request_processing_seconds{quantile="0.95"} is queryable over its API."""
    storage = PrometheusStorage(port=0)
    with MetricsCollector(storage=storage) as collector:
        _observe_1_to_100(collector)
        target = urllib.parse.urlsplit(storage.url).netloc
        with prometheus(tmp_path, target) as url:
            query = urllib.parse.quote('request_processing_seconds{quantile="0.95"}')
            deadline = time.monotonic() + 30
            result: list[Any] = []
            while not result and time.monotonic() < deadline:
                result = get_json(f"{url}/api/v1/query?query={query}")["data"]["result"]
                if not result:
                    time.sleep(0.5)
    assert result, "Prometheus never returned the quantile series"
    [series] = result
    assert series["metric"]["path"] == "/a"
    assert float(series["value"][1]) == pytest.approx(0.9505, rel=1e-9)


def test_the_former_exposition_stays_available_as_an_explicit_option() -> None:
    """export="histogram_and_gauges" gives the histogram family plus <name>_p95 gauges, and nothing native."""
    storage = PrometheusStorage(port=0)
    with MetricsCollector(storage=storage) as collector:
        _observe_1_to_100(collector, export="histogram_and_gauges")
        text = storage.exposition().decode()
    assert _family(text, "request_processing_seconds").type == "histogram"
    assert _family(text, "request_processing_seconds_p95").type == "gauge"
    assert 'quantile="0.95"' not in text


def test_an_unknown_export_is_refused_naming_the_choices() -> None:
    """A typo in export= is a ValueError listing what is accepted."""
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector, pytest.raises(ValueError, match="_and_"):
        collector.summary("x_seconds", export="histogram")


def _check_otlp_summary(metric: Any) -> None:
    assert metric.WhichOneof("data") == "summary"
    [point] = metric.summary.data_points
    assert (point.count, point.sum) == (100, pytest.approx(50.5))
    assert {kv.key: kv.value.string_value for kv in point.attributes} == {"path": "/a"}
    assert [v.quantile for v in point.quantile_values] == list(QUANTILES)
    assert [v.value for v in point.quantile_values] == pytest.approx([0.505, 0.901, 0.9505, 0.9901])
    assert point.start_time_unix_nano <= point.time_unix_nano


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_otlp_receivers_decode_summary_points(protocol: str) -> None:
    """An OTLP receiver built from the official protobuf decodes Summary points: quantiles, count and sum."""
    receiver = grpc_receiver if protocol == "grpc" else http_receiver
    with receiver() as (endpoint, received):
        storage = OTLPStorage(endpoint=endpoint, protocol=protocol, insecure=True, timeout=5)
        with MetricsCollector(storage=storage) as collector:
            _observe_1_to_100(collector)
            assert collector.collect_and_store_sync().is_success()
            _check_otlp_summary(received.metrics()["request_processing_seconds"])


def test_the_file_storage_writes_summary_points_the_protobuf_json_parser_reads(tmp_path: Path) -> None:
    """Each OTLP JSON line parses with protobuf's json_format into Summary points."""
    path = tmp_path / "metrics.jsonl"
    with MetricsCollector(storage=FileMetricsStorage(path)) as collector:
        _observe_1_to_100(collector)
        assert collector.collect_and_store_sync().is_success()
    request = json_format.Parse(path.read_text().splitlines()[0], ExportMetricsServiceRequest())
    metrics = {m.name: m for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    _check_otlp_summary(metrics["request_processing_seconds"])


def test_memory_storage_and_get_all_metrics_report_the_summary() -> None:
    """The memory storage holds summary points; get_all_metrics() reports the window statistics."""
    storage = MemoryMetricsStorage()
    with MetricsCollector(storage=storage) as collector:
        _observe_1_to_100(collector)
        data = storage.collect()
        records = asyncio.run(collector.get_all_metrics())
    assert data is not None
    [metric] = [m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    [point] = metric.data.data_points
    assert (metric.name, point.count, point.sum) == ("request_processing_seconds", 100, pytest.approx(50.5))
    assert dict(point.quantile_values)[0.95] == pytest.approx(0.9505)
    assert '"quantile": 0.95' in metric.to_json()
    [record] = [r for r in records if r.name == "request_processing_seconds"]
    assert (record.value["count"], record.value["p95"]) == (100, pytest.approx(0.9505))


def test_summary_observe_takes_labels_per_call_like_the_other_kinds() -> None:
    """observe(v, labels={...}) records in that child series, and reuses it on the next call."""
    with MetricsCollector(storage=MemoryMetricsStorage()) as collector:
        summary = collector.summary("task_seconds")
        summary.observe(1.0, labels={"queue": "mail"})
        summary.observe(3.0, labels={"queue": "mail"})
        summary.observe(5.0, labels={"queue": "sms"})
        mail = collector.summary("task_seconds", labels={"queue": "mail"})
        assert mail.get_statistics()["count"] == 2 and mail.get_statistics()["p50"] == 2.0
        assert collector.summary("task_seconds", labels={"queue": "sms"}).get_statistics()["max"] == 5.0
        assert summary.get_statistics()["count"] == 0


def test_the_openmetrics_exposition_prometheus_prefers_is_a_summary_with_its_unit() -> None:
    """Asked for OpenMetrics, the endpoint writes the summary family with # UNIT, and the parser reads it."""
    storage = PrometheusStorage(port=0)
    with MetricsCollector(storage=storage) as collector:
        collector.summary("req_processing", unit="s", labels={"a": "1"}).observe(0.5)
        accept = "application/openmetrics-text; version=1.0.0; charset=utf-8"
        request = urllib.request.Request(storage.url, headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=5) as response:
            text = response.read().decode()
    [family] = [f for f in openmetrics_families(text) if f.name == "req_processing_seconds"]
    assert (family.type, family.unit) == ("summary", "seconds")
    assert {s.name for s in family.samples} == {"req_processing_seconds", "req_processing_seconds_sum",
                                                "req_processing_seconds_count"}  # fmt: skip


def test_an_empty_window_exports_nan_quantiles_and_the_cumulative_count() -> None:
    """Once every sample has aged out, the quantiles are NaN while _count keeps counting all observations."""
    clock = ManualClock()
    storage = MemoryMetricsStorage()
    with MetricsCollector(storage=storage, clock=clock) as collector:
        collector.summary("job_seconds", max_age=10).observe(2.0)
        clock.advance(11)
        data = storage.collect()
    assert data is not None
    [point] = [
        p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics for p in m.data.data_points
    ]
    assert (point.count, point.sum) == (1, 2.0)
    assert all(math.isnan(v) for _, v in point.quantile_values)


def test_the_exporter_names_the_summary_hooks_use_exist_in_the_installed_versions() -> None:
    """Every private exporter name the hooks rely on is present (checked again when the hooks install)."""
    from rfs_otel._otel import exporter_hooks

    for module in exporter_hooks.SUMMARY_HOOK_NAMES:
        importlib.import_module(module)
        assert exporter_hooks.imported_exporter(module) is not None, module


def test_a_renamed_exporter_name_fails_loudly_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """If an exporter release drops a name the hooks use, installing them raises ImportError naming it."""
    import opentelemetry.exporter.prometheus._mapping as mapping

    from rfs_otel._otel import exporter_hooks

    monkeypatch.delattr(mapping, "sanitize_attribute")
    with pytest.raises(ImportError, match="sanitize_attribute"):
        exporter_hooks.imported_exporter("opentelemetry.exporter.prometheus._mapping")


def test_an_exporter_module_still_being_imported_is_left_for_the_next_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A module another thread is importing (names not there yet) is skipped, not reported as incompatible."""
    import types

    from rfs_otel._otel import exporter_hooks

    name = "opentelemetry.exporter.prometheus._mapping"
    half = types.ModuleType(name)
    half.__spec__ = types.SimpleNamespace(_initializing=True)  # type: ignore[assignment]
    monkeypatch.setitem(sys.modules, name, half)
    assert exporter_hooks.imported_exporter(name) is None


def test_an_exporter_imported_after_the_first_summary_collection_still_writes_native_summaries(
    tmp_path: Path,
) -> None:
    """Summaries scraped before any OTLP exporter was imported do not import one; one imported later is taught."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from rfs_otel import FileMetricsStorage, MetricsCollector, PrometheusStorage
        scraped = PrometheusStorage()
        with MetricsCollector(scraped) as first:
            first.summary("early_seconds").observe(1.0)
            assert b'quantile="0.5"' in scraped.exposition()
        print("otlp imported by the scrape:", "opentelemetry.exporter.otlp.json.common" in sys.modules)
        with MetricsCollector(FileMetricsStorage({str(tmp_path / "out.jsonl")!r})) as second:
            second.summary("late_seconds").observe(2.0)
            assert second.collect_and_store_sync().is_success()
        lines = open({str(tmp_path / "out.jsonl")!r}).read().splitlines()
        metrics = [m for line in lines for rm in json.loads(line)["resourceMetrics"]
                   for sm in rm["scopeMetrics"] for m in sm["metrics"]]
        print([(m["name"], sorted(k for k in m if k not in ("name", "description", "unit"))) for m in metrics])
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == "otlp imported by the scrape: False"
    assert "('late_seconds', ['summary'])" in second
