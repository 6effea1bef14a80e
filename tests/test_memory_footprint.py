"""Memory of a large scrape: label texts kept joined per chunk, counter totals read a slice at a time, pre-fork
modules and importlib.metadata imported only when used; the scrape's lines stay exactly the OTel path's."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import prometheus_client
import pytest

from rfs_otel import MetricsCollector, PrometheusStorage
from rfs_otel._otel.prom_text import CHUNK

ROOT = Path(__file__).resolve().parent.parent
BUCKETS = (0.1, 1.0, 10.0)


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    logging.disable(logging.WARNING)  # the unbounded-label warning of many ``id`` values
    yield
    logging.disable(logging.NOTSET)


def _same(storage: PrometheusStorage) -> str:
    """The direct body has exactly the lines OTel's exporter writes for the same collection (family order aside)."""
    direct = storage.exposition().decode()
    otel = prometheus_client.generate_latest(storage.registry).decode()
    assert sorted(direct.splitlines()) == sorted(otel.splitlines())
    return direct


def _cached(storage: PrometheusStorage) -> int:
    count: int = storage.readers()[0].cached_series()  # type: ignore[attr-defined]
    return count


def _imported_after(code: str) -> list[str]:
    """The modules of ``names`` a fresh interpreter has imported after running ``code``."""
    names = ["rfs_otel.multiprocess", "importlib.metadata", "rfs_otel.multiprocess._series"]
    script = f"import sys, json\n{code}\nprint(json.dumps([n for n in {names!r} if n in sys.modules]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_import_leaves_out_prefork_modules_and_package_metadata() -> None:
    """``import rfs_otel`` and a plain collector with a scrape import neither the multiprocess modules nor metadata."""
    code = (
        "import rfs_otel\n"
        "s = rfs_otel.PrometheusStorage(dashboard=False)\n"
        "c = rfs_otel.MetricsCollector(storage=s)\n"
        "c.counter('a_total').increment()\n"
        "s.exposition()"
    )
    assert _imported_after(code) == []


def test_multiprocess_collector_still_works_when_its_modules_load_on_use(tmp_path: Path) -> None:
    """A collector given ``multiprocess_dir`` imports its pre-fork modules then, and exports as before."""
    code = (
        "import rfs_otel\n"
        f"c = rfs_otel.MetricsCollector(multiprocess_dir={str(tmp_path)!r})\n"
        "c.counter('mp_total', labels={'job': 'x'}).increment(2)\n"
        "assert c.get_sample_value('mp_total', labels={'job': 'x'}) == 2\n"
        "c.shutdown()"
    )
    assert _imported_after(code) == ["rfs_otel.multiprocess", "rfs_otel.multiprocess._series"]


def test_series_added_across_a_chunk_boundary_render_as_the_otel_path() -> None:
    """Series added between scrapes (the last chunk refilled past ``CHUNK``) keep every line the OTel path's."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage, cardinality_limit=3 * CHUNK) as collector:
        for i in range(CHUNK - 3):
            collector.counter("jobs_total", labels={"id": str(i)}).increment()
        _same(storage)
        for i in range(CHUNK - 3, CHUNK + 5):
            collector.counter("jobs_total", labels={"id": str(i)}).increment(i)
        body = _same(storage)
        assert f'jobs_total{{id="{CHUNK + 4}",' in body
        assert _cached(storage) == CHUNK + 5


def test_removed_series_are_forgotten_and_the_rest_render_unchanged() -> None:
    """After removals the kept texts are found by key: the body is the OTel path's and no removed series is kept."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage, cardinality_limit=3 * CHUNK) as collector:
        for i in range(CHUNK + 10):
            collector.counter("jobs_total", labels={"id": str(i)}).increment()
        _same(storage)
        for i in range(0, CHUNK + 10, 3):
            assert collector.counter("jobs_total", labels={"id": str(i)}).remove()
        collector.counter("jobs_total", labels={"id": "new"}).increment()
        body = _same(storage)
        assert 'id="0"' not in body and 'id="new"' in body
        assert _cached(storage) == body.count("\njobs_total{")


def test_texts_with_escaped_newlines_quotes_and_backslashes_survive_the_joined_cache() -> None:
    """Label values holding newlines, quotes and backslashes render as the OTel path's on every later scrape."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        odd = ["a\nb", 'say "hi"', "back\\slash", "\n", ""]
        for value in odd:
            collector.counter("odd_total", labels={"v": value}).increment()
            collector.histogram("odd_seconds", BUCKETS, labels={"v": value}).observe(0.5)
        first = _same(storage)
        collector.counter("odd_total", labels={"v": "later\n"}).increment()
        assert _same(storage).count("\n") == first.count("\n") + 1
        assert 'v="a\\nb"' in first


def test_label_names_changing_between_scrapes_render_every_series_again() -> None:
    """A series with a new label name after a scrape: every line gets the new union of labels, as OTel writes it."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage) as collector:
        for i in range(5):
            collector.counter("jobs_total", labels={"id": str(i)}).increment()
            collector.histogram("job_seconds", BUCKETS, labels={"id": str(i)}).observe(i)
        _same(storage)
        collector.counter("jobs_total", labels={"id": "5", "zone": "b"}).increment()
        collector.histogram("job_seconds", BUCKETS, labels={"id": "5", "zone": "b"}).observe(2)
        body = _same(storage)
        assert 'jobs_total{id="0",otel_scope_name="rfs_otel"' in body and 'zone=""' in body
        assert collector.counter("jobs_total", labels={"id": "5", "zone": "b"}).remove()
        assert collector.histogram("job_seconds", BUCKETS, labels={"id": "5", "zone": "b"}).remove()
        assert 'zone=""' not in _same(storage)


def test_histograms_past_one_chunk_render_as_the_otel_path() -> None:
    """Histogram texts (label text, before and after ``le``) kept joined across chunks give the OTel path's lines."""
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage, cardinality_limit=2 * CHUNK) as collector:
        for i in range(CHUNK + 2):
            collector.histogram("job_seconds", BUCKETS, labels={"a": str(i), "z": "q"}).observe(i % 20)
        _same(storage)
        collector.histogram("job_seconds", BUCKETS, labels={"a": "late", "z": "q"}).observe(3)
        assert 'job_seconds_bucket{a="late",le="10.0",otel_scope_name' in _same(storage)


def test_counter_totals_read_in_slices_sum_every_live_threads_cells() -> None:
    """Counters past one slice, incremented by threads still alive at the scrape, export each thread's share."""
    storage = PrometheusStorage(dashboard=False)
    size = CHUNK + 100
    with MetricsCollector(storage=storage, cardinality_limit=size + 10) as collector:
        series = [collector.counter("hits_total", labels={"id": str(i)}) for i in range(size)]
        done, release = threading.Barrier(3), threading.Event()

        def work(step: int) -> None:
            for i in range(0, size, step):
                series[i].increment(step)
            done.wait(timeout=10)
            release.wait(timeout=10)

        threads = [threading.Thread(target=work, args=(step,)) for step in (1, 2)]
        for thread in threads:
            thread.start()
        done.wait(timeout=10)
        try:
            body = _same(storage)
        finally:
            release.set()
            for thread in threads:
                thread.join(timeout=10)
    assert f'hits_total{{id="{size - 2}",otel_scope_name="rfs_otel"' in body
    values = [line.rpartition(" ")[2] for line in body.splitlines() if line.startswith("hits_total{")]
    assert values == ["3.0" if i % 2 == 0 else "1.0" for i in range(size)]


def test_a_scrapes_kept_texts_cost_under_30_bytes_a_series() -> None:
    """After a scrape of 50k one-label counters, what stays besides the body is under 30 traced bytes a series
    (50k, so the interpreter's fixed free lists, about 200 KB of tuples and small objects, weigh little)."""
    size = 50_000
    storage = PrometheusStorage(dashboard=False)
    with MetricsCollector(storage=storage, cardinality_limit=size + 10) as collector:
        collector.counter("warm_total", labels={"id": "x"}).increment()
        storage.exposition()  # first-use imports and caches out of the figures
        for i in range(size):
            collector.counter("scrape_total", labels={"id": str(i)}).increment()
        tracemalloc.start()
        try:
            body = storage.exposition()
            kept = tracemalloc.get_traced_memory()[0] - sys.getsizeof(body)
        finally:
            tracemalloc.stop()
        assert kept / size < 30, f"{kept / size:.0f} bytes a series kept"
