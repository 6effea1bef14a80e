"""Pre-fork multiprocess mode: exact sums across live, exited and killed workers, bounded state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rfs_otel import MemoryMetricsStorage, MetricsCollector
from rfs_otel.testing import exported_points, wait_until

from .servers import free_port, wait_http


def _fork_and_record(collector: MetricsCollector, children: int, per_child: int) -> None:
    counter = collector.counter("jobs_total", "Jobs")
    histogram = collector.histogram("job_seconds", buckets=[0.1, 1.0])
    pids = []
    for _ in range(children):
        pid = os.fork()
        if pid == 0:  # child: record, then exit without any flush
            for _ in range(per_child):
                counter.increment()
                histogram.observe(0.5)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)


def test_forked_children_are_summed_exactly(tmp_path: Path) -> None:
    """Counts from exited children plus the parent's own are exported exactly once."""
    memory = MemoryMetricsStorage()
    with MetricsCollector(storage=memory, multiprocess_dir=tmp_path) as collector:
        collector.counter("jobs_total", "Jobs").increment(7)
        _fork_and_record(collector, children=4, per_child=250)
        data = memory.collect()
        [counter] = exported_points(data, "jobs_total")
        [histogram] = exported_points(data, "job_seconds")
        records = {m.name: m.value for m in collector.snapshot()}
    assert counter.value == 1007
    assert histogram.count == 1000
    assert records["jobs_total"] == 1007


def test_child_does_not_double_count_the_parent(tmp_path: Path) -> None:
    """After fork the child's own counts start at zero; the parent's stay in the parent's file."""
    with MetricsCollector(multiprocess_dir=tmp_path) as collector:
        counter = collector.counter("jobs_total")
        counter.increment(5)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(write, str(counter.get_value()).encode())
            os._exit(0)
        os.waitpid(pid, 0)
        assert os.read(read, 32) == b"0.0"
        assert {m.name: m.value for m in collector.snapshot()}["jobs_total"] == 5


def test_killed_worker_loses_nothing(tmp_path: Path) -> None:
    """A child killed with SIGKILL after recording: its increments are still counted."""
    with MetricsCollector(multiprocess_dir=tmp_path) as collector:
        counter = collector.counter("jobs_total")
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            for _ in range(321):
                counter.increment()
            os.write(write, b"done")
            time.sleep(60)
            os._exit(0)
        assert os.read(read, 4) == b"done"
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert {m.name: m.value for m in collector.snapshot()}["jobs_total"] == 321


def test_exited_workers_are_compacted(tmp_path: Path) -> None:
    """Files of exited workers are folded into archive.json: the directory does not grow with recycling."""
    with MetricsCollector(multiprocess_dir=tmp_path) as collector:
        for _ in range(5):
            _fork_and_record(collector, children=4, per_child=10)
            collector.snapshot()
        files = sorted(p.name for p in tmp_path.iterdir())
        assert {m.name: m.value for m in collector.snapshot()}["jobs_total"] == 200
    own = str(os.getpid())
    assert all(name.startswith((own, "archive", ".")) for name in files), files


@pytest.mark.parametrize("mode", ["sum", "max", "min", "mostrecent", "perpid"])
def test_gauge_modes_combine_live_workers(tmp_path: Path, mode: str) -> None:
    """Gauges of live workers combine by the chosen mode; exited workers' gauges are dropped."""
    with MetricsCollector(multiprocess_dir=tmp_path) as collector:
        gauge = collector.gauge("pool_size", multiprocess_mode=mode)
        gauge.set(10)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            time.sleep(0.01)  # a later timestamp than the parent's set(10), for mostrecent
            gauge.set(30)
            os.write(write, b"x")
            time.sleep(60)
            os._exit(0)
        os.read(read, 1)
        records = [m for m in collector.snapshot() if m.name == "pool_size"]
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        after = [m.value for m in collector.snapshot() if m.name == "pool_size"]
    values = sorted(m.value for m in records)
    expected = {"sum": [40], "max": [30], "min": [10], "mostrecent": [30], "perpid": [10, 30]}[mode]
    assert values == expected
    if mode == "perpid":
        assert {m.labels["pid"] for m in records} == {str(os.getpid()), str(pid)}
    assert after == [10]


def _exists(pid: int) -> bool:
    """Whether process ``pid`` still exists (a zombie not yet reaped by its parent counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def test_gunicorn_prefork_workers_with_recycling(tmp_path: Path) -> None:
    """gunicorn, 4 workers recycled every ~40 requests, N requests and one worker SIGKILLed: /metrics shows N."""
    pytest.importorskip("gunicorn")
    state = tmp_path / "state"
    port = free_port()
    env = {**os.environ, "RFS_OTEL_TEST_MP_DIR": str(state), "PYTHONPATH": str(Path(__file__).parent.parent)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "tests.apps.gunicorn_app:app",
            "--workers",
            "4",
            "--bind",
            f"127.0.0.1:{port}",
            "--max-requests",
            "40",
            "--max-requests-jitter",
            "10",
            "--config",
            "python:tests.apps.gunicorn_conf",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=str(Path(__file__).parent.parent),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/work", timeout=30)
        served = 1
        pids = {int(_get(f"{base}/work"))}
        served += 1
        killed = False
        for i in range(598):
            pid = int(_get(f"{base}/work"))
            pids.add(pid)
            served += 1
            if i == 300 and not killed:
                os.kill(pid, signal.SIGKILL)  # dies between requests: what it recorded must stay
                killed = True
                wait_until(lambda dead=pid: not _exists(dead), timeout=10)  # gunicorn reaped it
        text = _get(f"{base}/metrics")
        samples = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
        files = list(state.iterdir())
    finally:
        proc.terminate()
        proc.communicate(timeout=30)  # reads and closes the output pipe (no unclosed-file ResourceWarning)
    assert served == 600
    assert len(pids) > 4  # workers were recycled
    assert samples["work_requests_total"] == served
    assert samples["work_duration_seconds_count"] == served
    assert samples["work_in_flight"] == 0
    # live workers' files (meta, gauges, cells) plus archive and lock: bounded, not one set per recycled worker
    assert len(files) <= 4 * 3 + 2 + 3, sorted(p.name for p in files)


# Forking a multi-threaded process is the scenario under test, so Python 3.12+'s DeprecationWarning ("use of fork()
# may lead to deadlocks in the child") is expected here: rfs_otel replaces its locks and per-thread state in the
# child (os.register_at_fork), which is what this test proves. See docs/multiprocess.md, "Forking with threads".
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")
def test_fork_while_another_thread_holds_a_lock_does_not_deadlock() -> None:
    """A child forked while a thread holds the family and gauge locks can still create and record."""
    import threading

    with MetricsCollector() as collector:
        gauge = collector.gauge("in_flight")
        # White-box on purpose: the test must hold the very locks a fork could catch held.
        family = collector._registry.get("in_flight")
        assert family is not None
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            with family._lock, gauge._lock:
                held.set()
                release.wait(10)

        thread = threading.Thread(target=hold)
        thread.start()
        held.wait(5)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            signal.alarm(10)  # a deadlock here ends the child instead of hanging the suite
            collector.gauge("in_flight", labels={"worker": "child"}).set(1)
            gauge.set(2)
            os.write(write, b"ok")
            os._exit(0)
        try:
            _, status = os.waitpid(pid, 0)
            assert os.read(read, 2) == b"ok"
            assert status == 0
        finally:
            os.close(read)
            os.close(write)
            release.set()
            thread.join()


def test_threads_that_end_are_folded_into_the_workers_base_file(tmp_path: Path) -> None:
    """Each live thread writes its own file; ended threads are folded into <pid>-0.cells and their files removed."""
    import threading

    with MetricsCollector(multiprocess_dir=tmp_path) as collector:
        counter = collector.counter("jobs_total")
        together = threading.Barrier(8, timeout=10)  # all alive at once: eight files
        threads = [
            threading.Thread(target=lambda: [counter.increment() for _ in range(100)] and together.wait())
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert len(list(tmp_path.glob(f"{os.getpid()}-*.cells"))) == 8
        assert {m.name: m.value for m in collector.snapshot()}["jobs_total"] == 800
        assert [p.name for p in tmp_path.glob(f"{os.getpid()}-*.cells")] == [f"{os.getpid()}-0.cells"]
        assert {m.name: m.value for m in collector.snapshot()}["jobs_total"] == 800


def test_summaries_sum_their_distribution_across_workers(tmp_path: Path) -> None:
    """A summary's count, sum and buckets are summed across workers; quantiles come from the merged buckets."""
    memory = MemoryMetricsStorage()
    with MetricsCollector(storage=memory, multiprocess_dir=tmp_path) as collector:
        summary = collector.summary("task_seconds", buckets=[0.1, 0.5, 1.0])
        summary.observe(0.05)
        pid = os.fork()
        if pid == 0:
            for _ in range(99):
                summary.observe(0.7)
            os._exit(0)
        os.waitpid(pid, 0)
        data = memory.collect()
        [point] = exported_points(data, "task_seconds")  # a native summary point over every worker
        own = summary.get_statistics()
    assert point.count == 100 and point.sum == pytest.approx(0.05 + 99 * 0.7)
    assert 0.5 <= dict(point.quantile_values)[0.95] <= 0.7
    assert own["count"] == 1  # this worker's exact window
