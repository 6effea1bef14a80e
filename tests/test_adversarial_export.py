"""Adversarial endpoints: trickling, failing, redirecting and credential-hungry servers never hurt the host."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc

from rfs_otel import (
    Alert,
    AlertmanagerNotifier,
    AlertState,
    FileMetricsStorage,
    MetricsCollector,
    OTLPStorage,
    PrometheusStorage,
    WebhookNotifier,
)
from rfs_otel.testing import skip_shutdown_flush, wait_until

from .servers import free_port, self_signed_cert

SECRET = "hunter2-s3cr3t"
ELAPSED = re.compile(r"after \d+\.\d\d s")


@dataclass
class Seen:
    """What a test server received: one (method, path, headers, body) per request."""

    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)


def _read_request(conn: socket.socket) -> tuple[str, str, dict[str, str], bytes]:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path = [*lines[0].split(" "), "", ""][:2]
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return method, path, headers, body


@contextlib.contextmanager
def server(
    answer: Callable[[socket.socket, Seen], None], *, plain: bool = True, tls: ssl.SSLContext | None = None
) -> Iterator[tuple[int, Seen]]:
    """A raw TCP server on 127.0.0.1: each connection's request is recorded, then ``answer`` writes the reply.

    ``plain=False``: answer as soon as any bytes arrive (a TLS ClientHello is not an HTTP request).
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.05)
    seen = Seen()
    stop = threading.Event()
    conns: list[socket.socket] = []

    def handle(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            if tls is not None:
                conn.settimeout(5)
                conn = tls.wrap_socket(conn, server_side=True)
                conns.append(conn)  # the TLS socket replaces the plain one: close it at the end too
            if plain:
                seen.requests.append(_read_request(conn))
            else:
                conn.settimeout(5)
                conn.recv(65536)
            answer(conn, seen)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conns.append(conn)
            threading.Thread(target=handle, args=(conn,), daemon=True, name="test-server-conn").start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], seen
    finally:
        stop.set()
        thread.join(5)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()
        listener.close()


def trickle(conn: socket.socket, seen: Seen) -> None:
    """Accept the request, then send a valid 200 answer one byte per second (for at most 60 s)."""
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" + b"x" * 40
    for byte in reply[:60]:
        conn.sendall(bytes([byte]))
        time.sleep(1)


def status(code: int, reason: str, extra: str = "") -> Callable[[socket.socket, Seen], None]:
    def answer(conn: socket.socket, seen: Seen) -> None:
        conn.sendall(f"HTTP/1.1 {code} {reason}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n".encode())

    return answer


def ok(conn: socket.socket, seen: Seen) -> None:
    body = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)


def _alert() -> Alert:
    return Alert("deep_queue", AlertState.FIRING, 5.0, {"queue": "jobs"}, {"summary": "deep"}, started_at=time.time())


def _push(url: str, timeout: float) -> Callable[[], str]:
    def run() -> str:
        with MetricsCollector(storage=PrometheusStorage(push_gateway_url=url, timeout=timeout)) as collector:
            collector.counter("jobs_total").increment()
            result = collector.collect_and_store_sync()
            skip_shutdown_flush(collector)
        return str(result.unwrap_err())

    return run


def _otlp(url: str, timeout: float) -> Callable[[], str]:
    def run() -> str:
        storage = OTLPStorage(endpoint=f"{url}/v1/metrics", protocol="http/protobuf", timeout=timeout)
        with MetricsCollector(storage=storage) as collector:
            collector.counter("jobs_total").increment()
            result = collector.collect_and_store_sync()
            skip_shutdown_flush(collector)
        return str(result.unwrap_err())

    return run


def _notify(kind: type[WebhookNotifier] | type[AlertmanagerNotifier], url: str, timeout: float) -> Callable[[], str]:
    def run() -> str:
        with pytest.raises(ConnectionError) as raised:
            kind(url, timeout=timeout, retries=0).notify(_alert())
        return str(raised.value)

    return run


SENDERS: dict[str, Callable[[str, float], Callable[[], str]]] = {
    "pushgateway": _push,
    "otlp-http": _otlp,
    "webhook": lambda url, t: _notify(WebhookNotifier, url, t),
    "alertmanager": lambda url, t: _notify(AlertmanagerNotifier, url, t),
}


@pytest.mark.parametrize("kind", sorted(SENDERS))
def test_trickling_endpoint_is_abandoned_at_the_request_deadline(kind: str) -> None:
    """One byte per second: the request fails at its 1 s deadline (not per read), saying so with the time."""
    with server(trickle) as (port, seen):
        started = time.monotonic()
        message = SENDERS[kind](f"http://127.0.0.1:{port}", 1.0)()
        elapsed = time.monotonic() - started
    assert seen.requests, "the server got the request"
    assert elapsed < 2.5
    assert "deadline" in message and ELAPSED.search(message), message


def test_collect_and_shutdown_are_bounded_by_export_timeout_with_stuck_endpoints(tmp_path: Path) -> None:
    """Pushgateway and OTLP both trickle (timeout=30): a collection takes <= export_timeout, shutdown <= 2x + 1 s."""
    with server(trickle) as (port, _):
        url = f"http://127.0.0.1:{port}"
        storages = [
            PrometheusStorage(push_gateway_url=url, timeout=30),
            OTLPStorage(endpoint=f"{url}/v1/metrics", protocol="http/protobuf", timeout=30),
            FileMetricsStorage(tmp_path / "m.jsonl"),
        ]
        collector = MetricsCollector(storage=storages, export_timeout=1.5)
        collector.counter("jobs_total").increment()
        started = time.monotonic()
        result = collector.collect_and_store_sync()
        collected = time.monotonic() - started
        started = time.monotonic()
        collector.shutdown()
        shut = time.monotonic() - started
    assert result.is_failure() and "deadline" in result.unwrap_err()
    assert collected < 1.5 + 0.5
    assert shut < 2 * 1.5 + 1
    assert len(list(FileMetricsStorage.read(tmp_path / "m.jsonl"))) == 2  # the collection and shutdown's flush


def test_stuck_export_in_another_thread_never_blocks_file_storage(tmp_path: Path) -> None:
    """A push stuck in one thread: other collections skip it quickly, report it, and the file gets every one."""
    with server(trickle) as (port, seen):
        path = tmp_path / "m.jsonl"
        storages = [PrometheusStorage(push_gateway_url=f"http://127.0.0.1:{port}", timeout=3), FileMetricsStorage(path)]
        collector = MetricsCollector(storage=storages, export_timeout=3)
        counter = collector.counter("jobs_total")
        stuck = threading.Thread(target=collector.collect_and_store_sync)
        stuck.start()
        wait_until(lambda: seen.requests, timeout=3)  # the stuck thread wrote its snapshot, its push is in
        results = []
        for _ in range(3):
            counter.increment()
            started = time.monotonic()
            results.append((collector.collect_and_store_sync(), time.monotonic() - started))
        stuck.join(5)
        skip_shutdown_flush(collector)
        collector.shutdown()
    for result, elapsed in results:
        assert result.is_failure() and "still in flight" in result.unwrap_err(), result
        assert elapsed < 2  # waiting for the stuck push would take the 3 s deadline
    assert len(list(FileMetricsStorage.read(path))) == 4


def test_repeated_async_collections_do_not_pile_up_threads(tmp_path: Path) -> None:
    """collect_and_store(timeout=0.2) against a trickling gateway, 8 times: export threads stay bounded."""
    with server(trickle) as (port, _):
        path = tmp_path / "m.jsonl"
        storages = [PrometheusStorage(push_gateway_url=f"http://127.0.0.1:{port}", timeout=3), FileMetricsStorage(path)]
        collector = MetricsCollector(storage=storages, export_timeout=3)
        collector.counter("jobs_total").increment()

        def exporting() -> int:
            return sum(t.name == "rfs-otel-export" for t in threading.enumerate())

        async def settled() -> int:
            """Export threads once the quick ones (skipping the busy gateway) have ended; 1.5 s at most."""
            deadline = time.monotonic() + 1.5
            while exporting() > 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return exporting()

        async def run() -> list[int]:
            counts = []
            for _ in range(8):
                result = await collector.collect_and_store(timeout=0.2)
                assert result.is_failure()
                await asyncio.sleep(0.1)
                counts.append(await settled())  # a pile-up (threads stuck on the gateway) never settles
            return counts

        before = threading.active_count()
        counts = asyncio.run(run())
        peak = threading.active_count()
        for thread in threading.enumerate():
            if thread.name == "rfs-otel-export":
                thread.join(5)
        skip_shutdown_flush(collector)
        collector.shutdown()
    assert max(counts) <= 2, counts
    assert peak - before <= 4  # export threads plus the test server's connection threads
    assert len(list(FileMetricsStorage.read(path))) == 8


@pytest.mark.parametrize("kind", sorted(SENDERS))
def test_http_status_failure_names_status_reason_and_real_elapsed_time(kind: str) -> None:
    """A 503 says 'HTTP 503 Service Unavailable' and the real elapsed time, not the configured timeout."""
    with server(status(503, "Service Unavailable")) as (port, _):
        message = SENDERS[kind](f"http://127.0.0.1:{port}", 0.5)()
    assert "HTTP 503 Service Unavailable" in message, message
    assert ELAPSED.search(message), message


def garbage(conn: socket.socket, seen: Seen) -> None:
    """Answer with bytes that are not HTTP, including a NUL and a terminal escape sequence."""
    conn.sendall(b"\x00\xffGARBAGE \x1b[31mNOT HTTP\r\n\r\n")


@pytest.mark.parametrize("kind", sorted(SENDERS))
def test_a_peers_control_characters_never_reach_a_failure_message(kind: str) -> None:
    """What a hostile endpoint sends is quoted escaped: no NUL or escape character in the Failure message."""
    with server(garbage) as (port, _):
        message = SENDERS[kind](f"http://127.0.0.1:{port}", 2)()
    assert "bad HTTP answer" in message or "GARBAGE" in message, message
    assert not any(ch in message for ch in "\x00\x1b"), repr(message)


@pytest.mark.parametrize("kind", sorted(SENDERS))
def test_refused_dns_and_tls_failures_say_their_cause(kind: str) -> None:
    """Connection refused, an unresolvable host and a TLS handshake against plain HTTP each name their cause."""
    refused = SENDERS[kind](f"http://127.0.0.1:{free_port()}", 2)()
    dns = SENDERS[kind]("http://no-such-host.invalid:9", 2)()
    with server(status(400, "Bad Request"), plain=False) as (port, _):
        tls = SENDERS[kind](f"https://127.0.0.1:{port}", 2)()
    assert "refused" in refused and ELAPSED.search(refused), refused
    assert "DNS lookup of 'no-such-host.invalid' failed" in dns, dns
    assert "TLS error" in tls, tls


def test_otlp_grpc_refused_says_unavailable_with_elapsed_time() -> None:
    """gRPC: the Failure carries the exporter's status (UNAVAILABLE) and the real elapsed time."""
    storage = OTLPStorage(endpoint=f"http://127.0.0.1:{free_port()}", protocol="grpc", insecure=True, timeout=1)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("jobs_total").increment()
        started = time.monotonic()
        result = collector.collect_and_store_sync()
        elapsed = time.monotonic() - started
        skip_shutdown_flush(collector)
    assert "UNAVAILABLE" in result.unwrap_err() and ELAPSED.search(result.unwrap_err())
    assert elapsed < 2


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        out = []
        for r in self.records:
            out += [r.getMessage(), str(r.msg), repr(r.args), r.exc_text or "", logging.Formatter().format(r)]
        return out


@contextlib.contextmanager
def every_log_record() -> Iterator[_Records]:
    handler = _Records()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_otlp_userinfo_never_reaches_a_log_record(protocol: str) -> None:
    """user:secret@ in an OTLP endpoint: no log record of the library or the OTel exporters shows the secret."""
    path = "/v1/metrics" if protocol != "grpc" else ""
    with every_log_record() as captured:
        storage = OTLPStorage(
            endpoint=f"http://bob:{SECRET}@127.0.0.1:{free_port()}{path}", protocol=protocol, insecure=True, timeout=1
        )
        with MetricsCollector(storage=storage) as collector:
            collector.counter("jobs_total").increment()
            result = collector.collect_and_store_sync()
            skip_shutdown_flush(collector)
    assert result.is_failure()
    assert any(r.levelno >= logging.ERROR for r in captured.records), "the exporter logged its failure"
    token = base64.b64encode(f"bob:{SECRET}".encode()).decode()
    for text in [*captured.texts(), result.unwrap_err(), repr(storage)]:
        assert SECRET not in text and token not in text, text


def test_records_without_a_credential_pass_the_log_guard_untouched() -> None:
    """With the guard installed, a record holding no secret keeps its args and exc_info for the host's handlers."""
    OTLPStorage(endpoint=f"http://bob:{SECRET}@127.0.0.1:{free_port()}", protocol="grpc", insecure=True).shutdown()
    with every_log_record() as captured:
        try:
            raise RuntimeError("plain failure")
        except RuntimeError:
            logging.getLogger("rfs_otel").error("export to %s failed", "host:4317", exc_info=True)
            logging.getLogger("rfs_otel").error("export to %s failed", f"bob:{SECRET}@host")
    plain, secret = captured.records[-2:]
    assert plain.args == ("host:4317",) and plain.exc_info is not None
    assert secret.args is None and SECRET not in secret.getMessage()


def test_otlp_grpc_userinfo_becomes_basic_auth_and_succeeds() -> None:
    """gRPC with user:secret@: the collector receives 'authorization: Basic ...' and the export succeeds."""
    received: list[dict[str, str]] = []

    class Receiver(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            received.append(dict(context.invocation_metadata()))
            return metrics_service_pb2.ExportMetricsServiceResponse()

    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Receiver(), grpc_server)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    try:
        storage = OTLPStorage(endpoint=f"http://bob:{SECRET}@127.0.0.1:{port}", protocol="grpc", timeout=5)
        with MetricsCollector(storage=storage) as collector:
            collector.counter("jobs_total").increment()
            assert collector.collect_and_store_sync().is_success()
    finally:
        grpc_server.stop(None)
    assert received[0]["authorization"] == "Basic " + base64.b64encode(f"bob:{SECRET}".encode()).decode()


def test_otlp_http_userinfo_becomes_basic_auth_and_succeeds() -> None:
    """HTTP with user:secret@: the request carries basic auth, the URL no userinfo, and the export succeeds."""
    with server(ok) as (port, seen):
        storage = OTLPStorage(
            endpoint=f"http://bob:{SECRET}@127.0.0.1:{port}/v1/metrics", protocol="http/protobuf", timeout=5
        )
        with MetricsCollector(storage=storage) as collector:
            collector.counter("jobs_total").increment()
            assert collector.collect_and_store_sync().is_success()
            skip_shutdown_flush(collector)
    method, path, headers, _ = seen.requests[0]
    assert (method, path) == ("POST", "/v1/metrics")
    assert headers["authorization"] == "Basic " + base64.b64encode(f"bob:{SECRET}".encode()).decode()


def test_otlp_credentials_in_url_and_header_are_refused() -> None:
    """Credentials both in the URL and in an authorization header: a clear ValueError, not a guess."""
    with pytest.raises(ValueError, match="both in the endpoint URL"):
        OTLPStorage(
            endpoint=f"http://bob:{SECRET}@127.0.0.1:1/v1/metrics",
            protocol="http/protobuf",
            headers={"Authorization": "Bearer x"},
        )


@pytest.mark.parametrize("kind", [WebhookNotifier, AlertmanagerNotifier])
def test_redirect_to_another_host_never_carries_credentials_there(
    kind: type[WebhookNotifier] | type[AlertmanagerNotifier],
) -> None:
    """A 302 to another origin: a Failure naming the redirect; the other host receives no request at all."""
    with server(status(200, "OK")) as (other, stolen):
        location = f"Location: http://127.0.0.1:{other}/steal\r\n"
        with server(status(302, "Found", location)) as (port, seen):
            notifier = kind(
                f"http://ops:{SECRET}@127.0.0.1:{port}/hook",
                timeout=2,
                retries=2,
                backoff=0.01,
                headers={"X-Api-Key": SECRET},
            )
            with pytest.raises(ConnectionError, match=r"HTTP 302 Found.*not followed") as raised:
                notifier.notify(_alert())
    assert stolen.requests == []
    assert len(seen.requests) == 1  # a redirect is not retried
    assert seen.requests[0][2]["x-api-key"] == SECRET  # sent, to the configured host only
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize("kind", ["pushgateway", "otlp-http"])
def test_redirect_on_export_is_a_failure_not_a_delivery(kind: str) -> None:
    """A Pushgateway or OTLP endpoint answering 302: Failure (the OTel client would call 3xx a success)."""
    with server(status(200, "OK")) as (other, stolen):
        location = f"Location: http://127.0.0.1:{other}/steal\r\n"
        with server(status(302, "Found", location)) as (port, _):
            message = SENDERS[kind](f"http://127.0.0.1:{port}", 2)()
    assert "HTTP 302 Found" in message and "not followed" in message, message
    assert stolen.requests == []


def test_exit_without_shutdown_flushes_in_the_exiting_thread(tmp_path: Path) -> None:
    """No shutdown(), a trickling gateway: the process exits within the bound with its last snapshot on file."""
    path = tmp_path / "exit.jsonl"
    with server(trickle) as (port, _):
        script = textwrap.dedent(f"""
            import atexit, sys, time
            sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
            atexit.register(lambda: print("exit-flush-took", time.monotonic() - float(sys.argv[1])))
            from rfs_otel import FileMetricsStorage, MetricsCollector, PrometheusStorage
            storage = [PrometheusStorage(push_gateway_url="http://127.0.0.1:{port}", timeout=30),
                       FileMetricsStorage({str(path)!r})]
            collector = MetricsCollector(storage=storage, export_timeout=1.5)
            collector.counter("jobs_total", "Jobs").increment(42)
            sys.argv[1] = str(time.monotonic())  # the script's end: from here on it is interpreter exit
        """)
        proc = subprocess.run([sys.executable, "-c", script, "0"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Exception ignored" not in proc.stderr and "can't create new thread" not in proc.stderr, proc.stderr
    [took] = [float(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("exit-flush-took")]
    assert took < 2 * 1.5 + 1  # the documented shutdown bound
    [snapshot] = list(FileMetricsStorage.read(path))
    assert snapshot.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0].as_int == 42


def test_otlp_over_tls_delivers_within_the_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS with the collector's CA (OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE): the deadline transport delivers."""
    cert, key = self_signed_cert(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", str(cert))
    with server(ok, tls=context) as (port, seen):
        storage = OTLPStorage(endpoint=f"https://127.0.0.1:{port}/v1/metrics", protocol="http/protobuf", timeout=5)
        with MetricsCollector(storage=storage) as collector:
            collector.counter("jobs_total").increment(7)
            result = collector.collect_and_store_sync()
            skip_shutdown_flush(collector)
    assert result.is_success(), result
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    request.ParseFromString(seen.requests[0][3])
    assert request.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0].as_int == 7


def test_a_grpc_tls_mismatch_says_what_it_looks_like() -> None:
    """A TLS gRPC client against a plaintext collector: the Failure names TLS as the cause."""
    from .otlp_receivers import grpc_receiver

    with grpc_receiver() as (endpoint, received):
        storage = OTLPStorage(endpoint=endpoint, protocol="grpc", insecure=False, timeout=3)
        with MetricsCollector(storage=storage, export_timeout=4) as collector:
            collector.counter("jobs_total").increment()
            result = collector.collect_and_store_sync()
            skip_shutdown_flush(collector)
    assert result.is_failure()
    message = result.unwrap_err()
    assert "TLS mismatch" in message or "TLS error" in message or "SSL" in message, message
    assert received.requests == []
