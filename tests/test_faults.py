"""Faults: hanging and failing exporters, full disks, shutdown in flight, exit without shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from rfs_otel import FileMetricsStorage, MetricsCollector, OTLPStorage, PrometheusStorage
from rfs_otel.testing import skip_shutdown_flush


@contextlib.contextmanager
def hanging_server(accepted: threading.Event | None = None) -> Iterator[int]:
    """Accepts connections and never answers (setting ``accepted`` at the first); yields its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                held.append(conn)
                if accepted is not None:
                    accepted.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


HANG = 0  # a scripted "status": hold the request unanswered until the test ends


class _Scripted(BaseHTTPRequestHandler):
    """Answers POST/PUT with the next scripted status (HANG: never answers); records bodies."""

    script: ClassVar[list[tuple[int, dict[str, str]]]] = []
    bodies: ClassVar[list[bytes]] = []
    released: ClassVar[threading.Event] = threading.Event()

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, headers = self.script.pop(0) if self.script else (200, {})
        if status == HANG:
            _Scripted.released.wait(30)  # a stuck gateway; the fixture releases it at the end
            return
        if status == 200:
            _Scripted.bodies.append(body)
        payload = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString() if status == 200 else b""
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = _answer  # noqa: N815 - http.server naming
    do_PUT = _answer  # noqa: N815 - http.server naming

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[str]:
    _Scripted.script, _Scripted.bodies, _Scripted.released = [], [], threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    _Scripted.released.set()
    server.shutdown()
    server.server_close()


def test_hanging_pushgateway_fails_at_the_timeout_without_blocking_the_loop(scripted: str) -> None:
    """A gateway that never answers: Failure after ~timeout; the event loop keeps running; next push works."""
    _Scripted.script = [(HANG, {})]  # the first push hangs, the gateway answers the next one
    storage = PrometheusStorage(push_gateway_url=scripted, timeout=1)
    collector = MetricsCollector(storage=storage)
    collector.counter("jobs_total", "Jobs").increment(3)

    async def run() -> tuple[Any, int, float]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        task = asyncio.create_task(ticker())
        started = time.monotonic()
        result = await collector.collect_and_store()
        elapsed = time.monotonic() - started
        task.cancel()
        return result, ticks, elapsed

    result, ticks, elapsed = asyncio.run(run())
    assert result.is_failure()
    assert "timed out" in result.unwrap_err().lower()
    assert 0.9 <= elapsed < 3
    assert ticks >= 10  # the loop ran the whole time
    assert collector.collect_and_store_sync().is_success()
    assert b"jobs_total" in _Scripted.bodies[-1]
    collector.shutdown()


def test_collect_and_store_has_an_overall_timeout() -> None:
    """collect_and_store(timeout=0.5) returns a Failure at 0.5 s even if a storage would take longer."""
    with hanging_server() as port:
        collector = MetricsCollector(storage=PrometheusStorage(push_gateway_url=f"http://127.0.0.1:{port}", timeout=5))
        started = time.monotonic()
        result = asyncio.run(collector.collect_and_store(timeout=0.5))
        elapsed = time.monotonic() - started  # includes the loop's teardown: nothing waits for the export
        assert result.is_failure() and "within 0.5 s" in result.unwrap_err()
        assert elapsed < 2.5  # far from the storage's 5 s: nothing waited for it
        skip_shutdown_flush(collector)  # nothing left to flush at shutdown
        collector.shutdown()


def test_pushgateway_500_then_recovery_loses_nothing(scripted: str) -> None:
    """HTTP 500 is a Failure naming the status; the next push carries everything recorded meanwhile."""
    _Scripted.script = [(500, {})]
    collector = MetricsCollector(storage=PrometheusStorage(push_gateway_url=scripted, timeout=2))
    counter = collector.counter("orders_created_total", "Orders")
    counter.increment(4)
    failed = collector.collect_and_store_sync()
    assert failed.is_failure() and "HTTP 500" in failed.unwrap_err()
    counter.increment(6)
    assert collector.collect_and_store_sync().is_success()
    [line] = [x for x in _Scripted.bodies[-1].splitlines() if x.startswith(b"orders_created_total{")]
    assert line.endswith(b"} 10.0")
    collector.shutdown()


def test_otlp_http_retries_429_and_503_with_retry_after(scripted: str) -> None:
    """429 (with Retry-After) then 503, then 200: the exporter retries within the timeout and succeeds."""
    _Scripted.script = [(429, {"Retry-After": "0"}), (503, {})]
    storage = OTLPStorage(endpoint=f"{scripted}/v1/metrics", protocol="http/protobuf", timeout=10)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("jobs_total").increment()
        assert collector.collect_and_store_sync().is_success()
    request = ExportMetricsServiceRequest()
    request.ParseFromString(_Scripted.bodies[0])
    assert request.resource_metrics[0].scope_metrics[0].metrics[0].name == "jobs_total"


def test_otlp_http_non_retryable_fails_at_once(scripted: str) -> None:
    """400 is not retried: Failure well before the timeout."""
    _Scripted.script = [(400, {})] * 5
    storage = OTLPStorage(endpoint=f"{scripted}/v1/metrics", protocol="http/protobuf", timeout=10)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("jobs_total").increment()
        started = time.monotonic()
        result = collector.collect_and_store_sync()
        elapsed = time.monotonic() - started
        _Scripted.script = []
    assert result.is_failure()
    assert elapsed < 2
    assert len(_Scripted.script) == 0 or len(_Scripted.script) == 4


def test_otlp_grpc_retries_unavailable() -> None:
    """gRPC UNAVAILABLE twice, then OK: exported within the timeout."""
    answers = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE]
    received: list[Any] = []

    class Flaky(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            if answers:
                context.abort(answers.pop(0), "try again")
            received.append(request)
            return metrics_service_pb2.ExportMetricsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Flaky(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        storage = OTLPStorage(endpoint=f"http://127.0.0.1:{port}", insecure=True, timeout=15)
        with MetricsCollector(storage=storage) as collector:
            collector.counter("jobs_total").increment()
            assert collector.collect_and_store_sync().is_success()
    finally:
        server.stop(None)
    assert answers == [] and len(received) >= 1


def test_shutdown_while_an_export_is_in_flight() -> None:
    """shutdown() during a hanging push waits for it (bounded by the timeout) and does not raise."""
    accepted = threading.Event()
    with hanging_server(accepted) as port:
        collector = MetricsCollector(storage=PrometheusStorage(push_gateway_url=f"http://127.0.0.1:{port}", timeout=1))
        collector.counter("jobs_total").increment()
        exporting = threading.Thread(target=collector.collect_and_store_sync)
        exporting.start()
        assert accepted.wait(5)  # the push is in flight
        started = time.monotonic()
        collector.shutdown()
        collector.shutdown()
        elapsed = time.monotonic() - started
        exporting.join(5)
    assert collector.closed
    assert elapsed < 4


def _fill_disk_test(mount: Path) -> None:
    path = mount / "metrics.jsonl"
    storage = FileMetricsStorage(path, max_bytes=10 * 1024 * 1024, backup_count=0)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("jobs_total", "Jobs").increment()
        assert collector.collect_and_store_sync().is_success()
        before = path.read_bytes()
        for i in range(3000):  # label sets make every snapshot larger until the disk is full
            collector.counter("jobs_total", labels={"batch": f"b{i:05d}"}).increment()
        result = collector.collect_and_store_sync()
        assert result.is_failure(), result
        assert str(path) in result.unwrap_err()
        assert "No space left" in result.unwrap_err() or "too large" in result.unwrap_err()
        assert path.read_bytes() == before  # the earlier snapshot is intact, no partial line
        skip_shutdown_flush(collector)


def test_full_disk_is_a_failure_and_earlier_data_stays(tmp_path: Path) -> None:
    """A full filesystem (a 64 KiB tmpfs; else a file-size limit standing in for it) fails cleanly."""
    mount = tmp_path / "small"
    mount.mkdir()
    mounted = (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True).returncode
        == 0
    )
    try:
        if mounted:
            _fill_disk_test(mount)
            return
        # Stand-in when mounting is not allowed: RLIMIT_FSIZE makes writes past 64 KiB fail with EFBIG.
        script = textwrap.dedent(f"""
            import resource, signal, sys
            from pathlib import Path
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
            sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
            from tests.test_faults import _fill_disk_test
            _fill_disk_test(Path({str(mount)!r}))
        """)
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    finally:
        if mounted:
            subprocess.run(["umount", str(mount)], check=False)


def test_exit_without_shutdown_flushes_within_a_bound(tmp_path: Path) -> None:
    """A process that never calls shutdown() still writes its last snapshot at exit, and exits promptly."""
    path = tmp_path / "exit.jsonl"
    with hanging_server() as port:
        script = textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
            from rfs_otel import FileMetricsStorage, MetricsCollector, PrometheusStorage
            storage = [FileMetricsStorage({str(path)!r}),
                       PrometheusStorage(push_gateway_url="http://127.0.0.1:{port}", timeout=30)]
            collector = MetricsCollector(storage=storage, export_timeout=2)
            collector.counter("jobs_total", "Jobs").increment(42)
        """)
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 10
    [snapshot] = list(FileMetricsStorage.read(path))
    assert snapshot.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0].as_int == 42
