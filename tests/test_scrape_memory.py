"""Memory of many series and their scrape: no per-series attribute dict until one is asked for, scope labels kept
once per family, and the scrape body written once; the lines stay exactly the OTel path's."""

from __future__ import annotations

import logging
import tracemalloc

import prometheus_client

from rfs_otel import MetricsCollector, PrometheusStorage

SERIES = 20_000


def _same(storage: PrometheusStorage) -> None:
    """The direct body and the OTel exporter's body have the same lines (order of families aside)."""
    direct, otel = storage.exposition().decode(), prometheus_client.generate_latest(storage.registry).decode()
    assert sorted(direct.splitlines()) == sorted(otel.splitlines())


def test_scope_labels_written_once_still_render_as_the_otel_path() -> None:
    """Labels sorting before the scope labels, then one sorting after them, render as OTel's exporter does."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("jobs_total", labels={"id": "1"}).increment()
        collector.gauge("depth", labels={"id": "2"}).set(3)
        _same(storage)
        collector.counter("jobs_total", labels={"id": "3", "zone": "b"}).increment()
        _same(storage)
        assert 'jobs_total{id="3",otel_scope_name="rfs_otel"' in storage.exposition().decode()


def test_a_label_named_like_a_scope_label_renders_as_the_otel_path() -> None:
    """A series' own ``otel_scope_name`` label, added after a first scrape, is written as OTel's exporter writes it."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("jobs_total", labels={"a": "1"}).increment()
        _same(storage)
        collector.counter("jobs_total", labels={"a": "2", "otel_scope_name": "mine"}).increment()
        _same(storage)
        assert 'otel_scope_name="mine"' in storage.exposition().decode()


def test_series_and_scrape_memory_per_series() -> None:
    """A one-label counter series: under 420 traced bytes (was 532); its scrape: under 330 (was 438) plus the body."""
    logging.disable(logging.WARNING)  # the unbounded-label warning
    try:
        storage = PrometheusStorage(dashboard=False)
        with MetricsCollector(storage=storage, cardinality_limit=SERIES + 10) as collector:
            collector.counter("warm_total", labels={"id": "x"}).increment()
            storage.exposition()  # first-use imports and caches out of the figures
            tracemalloc.start()
            try:
                for i in range(SERIES):
                    collector.counter("scrape_total", "Scraped", labels={"id": str(i)}).increment()
                built = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
                body = storage.exposition()
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    finally:
        logging.disable(logging.NOTSET)
    assert built / SERIES < 420, f"{built / SERIES:.0f} bytes a series"
    assert (peak - built - len(body)) / SERIES < 330, f"scrape peak {(peak - built) / SERIES:.0f} bytes a series"
