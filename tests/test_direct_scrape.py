"""The direct scrape path: valid for promtool in both formats, exemplars in OpenMetrics, and everything the OTel
path carries (other libraries' instruments, summaries, View-shaped families, multiprocess) still there, once."""

from __future__ import annotations

import gzip
import threading
import urllib.request
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from rfs_otel import CounterMetric, MetricsCollector, PerformanceMonitored, PrometheusStorage, TimingMetric

from .servers import promtool_check_metrics

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def _names(text: str) -> list[str]:
    return [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]


def _busy(collector: MetricsCollector) -> None:
    collector.counter("jobs_total", "Jobs done", labels={"queue": 'm"a\\il\n'}).increment(3)
    collector.gauge("queue.depth", "Depth", unit="1").set(4.5)
    collector.histogram("job.latency", description="Latency", unit="s", labels={"http.route": "/x"}).observe(0.3)
    collector.summary("job_size", description="Sizes").observe(12.0)


def _same(storage: PrometheusStorage) -> None:
    """The direct body and the OTel exporter's body have the same lines (order of families aside)."""
    direct, otel = storage.exposition().decode(), prometheus_client.generate_latest(storage.registry).decode()
    assert sorted(direct.splitlines()) == sorted(otel.splitlines())


def test_text_exposition_passes_promtool() -> None:
    """The direct text exposition passes ``promtool check metrics``."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        _busy(collector)
        result = promtool_check_metrics(storage.exposition())
    assert result.returncode == 0, result.stdout + result.stderr


def test_openmetrics_exposition_carries_the_decorators_exemplars() -> None:
    """OpenMetrics (negotiated by Accept) carries the decorator's exemplars; the strict OpenMetrics parser takes it.

    (promtool 2.42's ``check metrics`` reads only the text format, so the OpenMetrics body is checked by
    prometheus_client's OpenMetrics parser, which rejects malformed exemplars, samples and a missing ``# EOF``.)
    """
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        _busy(collector)
        monitor = PerformanceMonitored(
            timing_metric=TimingMetric("op_duration_seconds"),
            counter_metric=CounterMetric("op_calls_total"),
            collector=collector,
            trace=True,
            tracer_provider=TracerProvider(),
        )
        monitor(lambda: None)()
        body = storage.exposition(OPENMETRICS)
        result = promtool_check_metrics(storage.exposition())
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in body.decode().splitlines() if line.startswith("op_duration_seconds_bucket")]
    assert any(' # {span_id="' in line and 'trace_id="' in line for line in lines)
    families = {f.name: f for f in parse_openmetrics(body.decode())}
    exemplars = [s.exemplar for s in families["op_duration_seconds"].samples if s.exemplar is not None]
    assert len(exemplars) == 1 and len(exemplars[0].labels["trace_id"]) == 32


def test_text_format_has_no_exemplars() -> None:
    """The Prometheus text format (no exemplar syntax) is written without them."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        monitor = PerformanceMonitored(
            timing_metric=TimingMetric("op_duration_seconds"),
            collector=collector,
            trace=True,
            tracer_provider=TracerProvider(),
        )
        monitor(lambda: None)()
        assert " # {" not in storage.exposition().decode()
        _same(storage)


def test_other_libraries_instruments_and_summaries_appear_once() -> None:
    """An OTel instrument of another library on the same provider and a summary (OTel path) appear, once each."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        _busy(collector)
        collector.meter_provider.get_meter("other.lib", "2.0").create_counter("lib.hits").add(2, {"k": "v"})
        text = storage.exposition().decode()
        _same(storage)
    names = _names(text)
    assert len(names) == len(set(names))
    assert {"lib_hits_total", "jobs_total", "job_size", "queue_depth", "job_latency_seconds", "target_info"} <= set(
        names
    )
    assert 'otel_scope_name="other.lib"' in text


@pytest.mark.parametrize("instrument", ["jobs_total", "jobs"])
def test_an_instrument_named_like_a_facade_family_is_rendered_as_otel_renders_it(instrument: str) -> None:
    """Another library's instrument of a facade family's name: the family goes the OTel way (no added copy)."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("jobs_total", "Jobs done").increment()
        collector.meter_provider.get_meter("other.lib").create_counter(instrument, description="Jobs done").add(2)
        text = storage.exposition().decode()
        otel = prometheus_client.generate_latest(storage.registry).decode()
    assert sorted(text.splitlines()) == sorted(otel.splitlines())
    assert _names(text).count("jobs_total") == _names(otel).count("jobs_total")


def test_a_family_a_view_reshapes_goes_the_otel_way() -> None:
    """A View renaming a family or dropping its attribute keys is honoured (the OTel path renders that family)."""
    views = [View(instrument_name="jobs_total", name="tasks_total", attribute_keys=set())]
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage, views=views) as collector:
        collector.counter("jobs_total", labels={"queue": "a"}).increment()
        collector.counter("jobs_total", labels={"queue": "b"}).increment(2)
        collector.counter("plain_total").increment()
        text = storage.exposition().decode()
        _same(storage)
    assert "tasks_total" in _names(text) and "jobs_total" not in _names(text)
    assert [s.value for f in parse_text(text) if f.name == "tasks" for s in f.samples] == [3.0]


def test_openmetrics_equals_the_otel_exporter_with_an_sdk_instrument() -> None:
    """OpenMetrics: one ``# EOF``, the same families and lines as OTel's exporter writes."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        _busy(collector)
        collector.meter_provider.get_meter("other.lib").create_up_down_counter("lib.open").add(-2)
        direct = storage.exposition(OPENMETRICS).decode()
        otel = openmetrics_latest(storage.registry).decode()
    assert sorted(direct.splitlines()) == sorted(otel.splitlines())
    assert direct.endswith("# EOF\n") and direct.splitlines().count("# EOF") == 1  # the marker line, once


def test_an_attached_provider_keeps_its_own_views() -> None:
    """A collector joining the service's MeterProvider renders directly what that provider's Views leave as is."""
    provider = MeterProvider(views=[View(instrument_name="renamed_total", name="other_total")])
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage, meter_provider=provider) as collector:
        collector.counter("renamed_total").increment()
        collector.counter("kept_total").increment()
        text = storage.exposition().decode()
        _same(storage)
    assert {"other_total", "kept_total"} <= set(_names(text))
    provider.shutdown()


def test_multiprocess_scrape_equals_the_otel_exporter(tmp_path: Path) -> None:
    """Multiprocess mode: the direct body equals OTel's exporter's over the same directory."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage, multiprocess_dir=tmp_path) as collector:
        _busy(collector)
        collector.counter("jobs_total", "Jobs done", labels={"queue": "b"}).increment(2)
        _same(storage)
        text = storage.exposition().decode()
    assert 'jobs_total{otel_scope_name="rfs_otel"' in text


def test_served_scrape_negotiates_format_and_gzip() -> None:
    """The bounded server answers with the direct body: text by default, OpenMetrics and gzip when asked."""
    storage = PrometheusStorage(port=0, dashboard=False)
    try:
        with MetricsCollector(storage=storage) as collector:
            _busy(collector)
            assert storage.url is not None
            with urllib.request.urlopen(storage.url, timeout=10) as reply:
                assert reply.headers["Content-Type"].startswith("text/plain")
                assert reply.read() == storage.exposition()
            request = urllib.request.Request(storage.url, headers={"Accept": OPENMETRICS, "Accept-Encoding": "gzip"})
            with urllib.request.urlopen(request, timeout=10) as reply:
                assert reply.headers["Content-Type"].startswith("application/openmetrics-text")
                assert reply.headers["Content-Encoding"] == "gzip"
                body = gzip.decompress(reply.read()).decode()
            assert body.endswith("# EOF\n") and "jobs_total" in body
    finally:
        storage.stop()


def _wsgi_body(app: Any, query: str) -> bytes:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": query, "SCRIPT_NAME": ""}
    return b"".join(app(environ, lambda status, headers: None))


def test_name_filter_is_answered_by_prometheus_clients_app() -> None:
    """``?name[]=`` is left to prometheus_client's own app: the answer is the one it gives."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        _busy(collector)
        query = "name[]=jobs_total"
        ours = _wsgi_body(storage.wsgi_app(), query)
        assert ours == _wsgi_body(prometheus_client.make_wsgi_app(storage.registry), query)
        assert _wsgi_body(storage.wsgi_app(), "") == storage.exposition()


def test_counters_recorded_by_live_and_ended_threads_sum_exactly() -> None:
    """Totals read a thread's cell list at a time: live threads', ended threads' and new series all count."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        first = collector.counter("work_total", labels={"kind": "a"})
        release = threading.Event()
        recorded = threading.Barrier(3, timeout=10)

        def live() -> None:
            first.increment(2)
            collector.counter("work_total", labels={"kind": "b"}).increment(5)  # a slot this list did not have
            recorded.wait()
            release.wait(10)

        def ended() -> None:
            first.increment(0.5)

        done = threading.Thread(target=ended)
        done.start()
        done.join(10)
        threads = [threading.Thread(target=live) for _ in range(2)]
        for thread in threads:
            thread.start()
        recorded.wait()
        first.increment()
        try:
            text = storage.exposition().decode()
            _same(storage)
        finally:
            release.set()
            for thread in threads:
                thread.join(10)
    values = {s.labels["kind"]: s.value for f in parse_text(text) if f.name == "work" for s in f.samples}
    assert values == {"a": 5.5, "b": 10.0}


@pytest.mark.parametrize(
    "accept",
    [
        "",
        "text/plain;version=0.0.4",
        "text/plain;version=1.0.0;escaping=allow-utf-8",
        "text/plain;version=1.0.0;escaping=dots",
        "application/openmetrics-text",
        "application/openmetrics-text;version=1.0.0;escaping=underscores",
        "application/openmetrics-text;version=1.0.0;escaping=values",
    ],
)
def test_every_negotiated_format_equals_prometheus_clients_encoder(accept: str) -> None:
    """Whatever the Accept header negotiates, the body has the lines prometheus_client's encoder writes for it."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        _busy(collector)
        collector.counter("dotted.name_total", labels={"http.route": "/a"}).increment()
        encoder, _ = prometheus_client.exposition.choose_encoder(accept)
        direct = storage.exposition(accept).decode()
        otel = encoder(storage.registry).decode()
    assert sorted(direct.splitlines()) == sorted(otel.splitlines())
