"""Hostile checks of the direct scrape and the direct OTLP export: edge values, hostile text, churn, threads, shutdown.

Each compares the fast path with the OTel path of the same storage (OTel's exporter + prometheus_client, or
OTel's ``encode_metrics``), or bounds what the fast path caches.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import prometheus_client
import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from rfs_otel import MetricsCollector, OTLPStorage, PrometheusStorage
from tests.otlp_receivers import Received, http_receiver
from tests.test_otlp_equivalence import _normalised

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

#: Edge values and hostile text the facade accepts, recorded into a collector.
CASES: dict[str, Callable[[MetricsCollector], Any]] = {
    "negative zero gauge": lambda c: c.gauge("g").set(-0.0),
    "int gauge beyond 2**53": lambda c: c.gauge("g").set(2**53 + 1),
    "int gauge at the int64 edges": lambda c: (c.gauge("hi").set(2**63 - 1), c.gauge("lo").set(-(2**63))),
    "subnormal counter": lambda c: c.counter("c").increment(1e-320),
    "huge float gauge": lambda c: c.gauge("g").set(1e300),
    "int then float counter": lambda c: (c.counter("c").increment(1), c.counter("c").increment(0.5)),
    "float counter of an integral value": lambda c: c.counter("c").increment(2.0),
    "hostile label values": lambda c: [
        c.counter("c", labels={"k": value}).increment()
        for value in ("a\nb", "a\\b", 'a"b', "a\u2028b", "a\x00b", "\r\x85\x0b")
    ],
    "a 1 MB label value": lambda c: c.gauge("g", labels={"k": "x" * 1_000_000}).set(1),
    "hostile description and unit": lambda c: c.gauge("g", 'line\nback\\slash "q" \u2028', unit="m/s{x}").set(1),
    "label key sets differing per series": lambda c: (
        c.counter("c", labels={"k": "1"}).increment(),
        c.counter("c", labels={"j": "1"}).increment(),
        c.counter("c").increment(),
    ),
    "histogram with a negative bound": lambda c: c.histogram("h", buckets=[-1.0, 1.0]).observe(-5),
    "histogram of a large int": lambda c: [c.histogram("h", buckets=[1.0]).observe(2**62) for _ in range(3)],
    "histogram labels around le": lambda c: c.histogram(
        "h", buckets=[1.0], labels={"a": "1", "z": "2", "lf": "x", "la": "y"}
    ).observe(0.5),
    "a meter's scope with a schema url": lambda c: (
        c.meter("lib.x", "1.2", schema_url="https://x/1.2").counter("c", labels={"k": "v"}).increment()
    ),
}


def _quiet() -> Any:
    logger = logging.getLogger("rfs_otel")
    level = logger.level
    logger.setLevel(logging.ERROR)
    return level


@pytest.mark.parametrize("accept", ["", OPENMETRICS], ids=["text", "openmetrics"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_edge_values_and_hostile_text_scrape_as_the_otel_exporter(case: str, accept: str) -> None:
    """Edge values and hostile text: the direct scrape's lines equal OTel's exporter's, in both formats."""
    storage = PrometheusStorage(dashboard=False)
    collector = MetricsCollector(storage=storage)
    level = _quiet()
    try:
        CASES[case](collector)
        direct = storage.exposition(accept).decode()
        otel = (openmetrics_latest if accept else prometheus_client.generate_latest)(storage.registry).decode()
        assert sorted(direct.splitlines()) == sorted(otel.splitlines())
    finally:
        logging.getLogger("rfs_otel").setLevel(level)
        collector.shutdown()


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, Received]]:
    with http_receiver() as found:
        yield found


@pytest.mark.parametrize("case", sorted(CASES))
def test_edge_values_and_hostile_text_encode_as_the_otel_encoder(receiver: tuple[str, Received], case: str) -> None:
    """Edge values and hostile text: the direct OTLP request decodes to OTel's encoding (int vs double included)."""
    url, received = receiver
    storage = OTLPStorage(endpoint=url, protocol="http/protobuf", timeout=10)
    collector = MetricsCollector(storage=storage)
    level = _quiet()
    try:
        CASES[case](collector)
        assert collector.collect_and_store_sync().is_success()
        (reader,) = storage.readers()
        otel = encode_metrics(reader.get_metrics_data())  # type: ignore[attr-defined]
        assert _normalised(received.requests[-1]) == _normalised(otel)
    finally:
        logging.getLogger("rfs_otel").setLevel(level)
        collector.shutdown()


@pytest.mark.parametrize("accept", ["", OPENMETRICS], ids=["text", "openmetrics"])
def test_scrape_after_shutdown_renders_what_the_otel_path_renders(accept: str) -> None:
    """After ``collector.shutdown()`` the storage's scrape no longer shows the shut-down collector's families."""
    storage = PrometheusStorage(dashboard=False)
    collector = MetricsCollector(storage=storage)
    collector.counter("jobs_total", labels={"queue": "mail"}).increment()
    collector.gauge("depth").set(2)
    assert b"jobs_total" in storage.exposition(accept)
    collector.shutdown()
    direct = storage.exposition(accept)
    otel = (openmetrics_latest if accept else prometheus_client.generate_latest)(storage.registry)
    assert direct == otel
    assert b"jobs_total" not in direct and b"depth" not in direct


def test_otlp_reader_encodes_nothing_directly_after_shutdown(receiver: tuple[str, Received]) -> None:
    """A shut-down collector's direct OTLP reader lets go of the bridge: it encodes nothing more."""
    url, _ = receiver
    storage = OTLPStorage(endpoint=url, protocol="http/protobuf", timeout=10)
    collector = MetricsCollector(storage=storage)
    collector.counter("jobs_total").increment()
    (reader,) = storage.readers()
    assert reader.encoded() is not None  # type: ignore[attr-defined]
    collector.shutdown()
    assert reader.encoded() is None  # type: ignore[attr-defined]


def _cached(storage: PrometheusStorage) -> int:
    """Series label texts the storage's direct reader holds (through its public ``readers()``)."""
    (reader,) = storage.readers()
    count: int = reader.cached_series()  # type: ignore[attr-defined]
    return count


def test_label_text_cache_stays_bounded_under_churn_ttl_and_overflow() -> None:
    """Series created and removed, expired or folded into overflow, scrape after scrape: the cache stays bounded."""
    storage = PrometheusStorage(dashboard=False)
    collector = MetricsCollector(storage=storage, cardinality_limit=50, series_ttl=0.01)
    level = _quiet()
    try:
        sizes = []
        for cycle in range(40):
            for i in range(80):  # 30 of them overflow
                collector.counter("c", labels={"k": f"{cycle}-{i}"}).increment()
                collector.histogram("h", buckets=[1.0], labels={"k": f"{cycle}-{i}"}).observe(0.5)
            storage.exposition()
            storage.exposition(OPENMETRICS)
            collector.clear("c")
            time.sleep(0.015)  # the histogram's series expire
            storage.exposition()
            sizes.append(_cached(storage))
        assert max(sizes) <= 2 * (2 * 51 + 64)
    finally:
        logging.getLogger("rfs_otel").setLevel(level)
        collector.shutdown()


def test_eight_threads_scrape_while_series_come_and_go() -> None:
    """Eight scraping threads and two churning ones: no exception, every body parses (OpenMetrics ends in EOF)."""
    storage = PrometheusStorage(dashboard=False)
    collector = MetricsCollector(storage=storage, series_ttl=0.05)
    errors: list[BaseException] = []
    bodies = [0] * 8
    start = threading.Barrier(10)
    stop = threading.Event()

    def churn(t: int) -> None:
        start.wait(5)
        i = 0
        while not stop.is_set() and i < 20_000:
            i += 1
            extra = {"x": "1"} if i % 7 == 0 else {}
            collector.counter("c", labels={"k": f"{t}-{i % 50}", **extra}).increment()
            collector.histogram("h", buckets=[1.0], labels={"k": f"{t}-{i % 50}"}).observe(0.5)
            collector.gauge("g", labels={"k": f"{t}-{i % 50}"}).set(i)
            if i % 3 == 0:
                collector.remove("c", labels={"k": f"{t}-{(i - 1) % 50}"})
            if i % 101 == 0:
                collector.clear("h")

    def scrape(t: int) -> None:
        start.wait(5)
        try:
            while not stop.is_set():
                if t % 2:
                    body = storage.exposition(OPENMETRICS).decode()
                    list(parse_openmetrics(body))
                    assert body.endswith("# EOF\n") and body.splitlines().count("# EOF") == 1
                else:
                    list(parse_text(storage.exposition().decode()))
                bodies[t] += 1
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(t,)) for t in range(2)]
    threads += [threading.Thread(target=scrape, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join(10)
    collector.shutdown()
    assert not errors, errors[0]
    assert all(count > 0 for count in bodies)


class _Answering(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver answering every request with ``status``, counting them."""

    status = 503
    hits: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.hits.append(self.status)
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("status", [503, 413])
def test_refused_direct_export_retries_as_the_otel_path(status: int) -> None:
    """A receiver answering 5xx (retried within the 2 s deadline: backoffs of ~1 s then ~2 s leave room for exactly
    one retry) or 413 (not retried): the direct export sends as many requests as the OTel path, fails the same way."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answering)
    _Answering.status = status
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/v1/metrics"
    level = _quiet()
    outcomes = []
    try:
        for direct in (True, False):
            collector = MetricsCollector(storage=OTLPStorage(endpoint=url, protocol="http/protobuf", timeout=2))
            if direct:
                collector.counter("jobs_total").increment()
            else:  # only another library's instrument: nothing is encoded directly
                collector.meter_provider.get_meter("other").create_counter("jobs_total").add(1)
            _Answering.hits.clear()
            started = time.monotonic()
            result = collector.collect_and_store_sync()
            elapsed = time.monotonic() - started
            outcomes.append((result.is_success(), len(_Answering.hits), elapsed < 2.5))
            collector.shutdown()
    finally:
        logging.getLogger("rfs_otel").setLevel(level)
        server.shutdown()
        server.server_close()
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] == (False, 2 if status == 503 else 1, True)


def test_batching_exporter_with_delta_loses_nothing(
    receiver: tuple[str, Received], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exporter that splits batches (``max_export_batch_size``) cannot send a direct request: the export goes the
    OTel path from one collection, so delta counters (the facade's and other libraries') keep their increments."""
    from opentelemetry.exporter.otlp.proto.http import metric_exporter

    class Batching(metric_exporter.OTLPMetricExporter):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, max_export_batch_size=100, **kwargs)

    monkeypatch.setattr(metric_exporter, "OTLPMetricExporter", Batching)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    url, received = receiver
    collector = MetricsCollector(storage=OTLPStorage(endpoint=url, protocol="http/protobuf", timeout=10))
    try:
        collector.gauge("depth").set(4)
        collector.counter("jobs_total").increment(2)
        collector.meter_provider.get_meter("other").create_counter("other_total").add(7)
        assert collector.collect_and_store_sync().is_success()
        metrics = received.metrics()
        values = {name: [p.as_int for p in metrics[name].sum.data_points] for name in ("jobs_total", "other_total")}
        assert values == {"jobs_total": [2], "other_total": [7]}
        assert [p.as_int for p in metrics["depth"].gauge.data_points] == [4]
    finally:
        collector.shutdown()
