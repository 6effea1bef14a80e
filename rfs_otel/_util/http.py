"""Deadline-bounded HTTP: one deadline for the whole request (connect, TLS, send, every read), no helper thread.

urllib, requests and urllib3 bound each socket operation, so a server trickling one byte per second keeps a
request alive forever. Here every socket operation gets the time left until one deadline instead.

``encodings.idna`` is imported here, as requests does: ``getaddrinfo`` and a TLS ``server_hostname`` encode a
host name with that codec, whose first lookup would otherwise import it (and ``unicodedata``) in the thread
making the first request, where a fork at that moment would leave it half imported in the child.
"""

from __future__ import annotations

import encodings.idna  # noqa: F401 - see above
import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Answer", "HttpError", "expect_success", "origin", "request"]

#: Answer bodies are read up to this size; the rest is dropped (a hostile server cannot fill memory).
MAX_BODY = 1024 * 1024


def printable(text: str, limit: int = 300) -> str:
    """``text`` safe for a log line: control characters escaped (a peer's bytes carry no terminal codes), bounded."""
    # repr's escapes are unicode_escape's, without that codec's first-use import (in an exporting thread, a fork
    # at that moment would leave it half imported in the child)
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


class HttpError(Exception):
    """A request that got no usable answer; the message names the cause and the real elapsed time."""

    def __init__(self, cause: str, kind: str, elapsed: float, status: int | None = None) -> None:
        cause = printable(cause)  # it quotes what the peer sent (reason phrase, a bad status line)
        super().__init__(f"{cause} (after {elapsed:.2f} s)")
        self.cause = cause
        self.kind = kind  # "dns", "refused", "connect", "tls", "deadline", "protocol", "status", "redirect"
        self.elapsed = elapsed
        self.status = status


@dataclass(frozen=True)
class Answer:
    """A complete HTTP answer."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    elapsed: float


class _Deadline:
    """Sets the socket timeout to the time left before every operation."""

    _rfs_deadline: float | None = None

    def _left(self) -> float:
        deadline = self._rfs_deadline
        if deadline is None:
            return -1.0
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline reached")
        self.settimeout(left)  # type: ignore[attr-defined]
        return left

    def recv_into(self, *args: Any) -> int:
        self._left()
        return super().recv_into(*args)  # type: ignore[misc, no-any-return]

    def recv(self, *args: Any) -> bytes:
        self._left()
        return super().recv(*args)  # type: ignore[misc, no-any-return]

    def send(self, *args: Any) -> int:
        self._left()
        return super().send(*args)  # type: ignore[misc, no-any-return]

    def sendall(self, *args: Any) -> None:
        self._left()  # CPython bounds the whole sendall by the timeout
        super().sendall(*args)  # type: ignore[misc]


class _DeadlineSocket(_Deadline, socket.socket):
    pass


class _DeadlineSSLSocket(_Deadline, ssl.SSLSocket):
    pass


class _DeadlineContext(ssl.SSLContext):
    sslsocket_class = _DeadlineSSLSocket


def _tls_context(verify: bool | str, cert: str | tuple[str, str] | None) -> ssl.SSLContext:
    context = _DeadlineContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif isinstance(verify, str):
        context.load_verify_locations(verify)
    else:
        context.load_default_certs()
    if isinstance(cert, str):
        context.load_cert_chain(cert)
    elif cert is not None:
        context.load_cert_chain(cert[0], cert[1])
    return context


class _Connection(http.client.HTTPConnection):
    """An HTTP(S) connection whose every socket operation shares one deadline."""

    def __init__(self, host: str, port: int, deadline: float, context: ssl.SSLContext | None) -> None:
        super().__init__(host, port, timeout=max(deadline - time.monotonic(), 0.001))
        self._rfs_deadline = deadline
        self._rfs_context = context

    def connect(self) -> None:
        left = self._rfs_deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline reached")
        raw = socket.create_connection((self.host, self.port), timeout=left)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock: socket.socket = _DeadlineSocket(raw.family, raw.type, raw.proto, fileno=raw.detach())
        sock.settimeout(max(self._rfs_deadline - time.monotonic(), 0.001))
        if self._rfs_context is not None:  # the handshake is bounded as a whole by the socket's timeout
            sock = self._rfs_context.wrap_socket(sock, server_hostname=self.host)
        sock._rfs_deadline = self._rfs_deadline  # type: ignore[attr-defined]
        self.sock = sock


def _classify(exc: BaseException, host: str, port: int, timeout: float) -> tuple[str, str]:
    if isinstance(exc, socket.gaierror):
        return f"DNS lookup of {host!r} failed: {exc.strerror or exc}", "dns"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection to {host}:{port} refused", "refused"
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        return f"TLS error with {host}:{port}: {getattr(exc, 'reason', None) or exc}", "tls"
    if isinstance(exc, TimeoutError):
        return f"timed out: no complete answer from {host}:{port} within the {timeout:g} s deadline", "deadline"
    if isinstance(exc, http.client.HTTPException):
        return f"bad HTTP answer from {host}:{port}: {type(exc).__name__}: {exc}", "protocol"
    if isinstance(exc, OSError):
        return f"connection to {host}:{port} failed: {exc.strerror or type(exc).__name__}", "connect"
    return f"{type(exc).__name__}: {exc}", "protocol"


def request(
    method: str,
    url: str,
    *,
    timeout: float,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    verify: bool | str = True,
    cert: str | tuple[str, str] | None = None,
) -> Answer:
    """Send one request and read its whole answer within ``timeout`` seconds in total; never follows redirects.

    Raises ``HttpError`` (cause, kind, elapsed) when no complete answer arrives in time. Any status is returned.
    """
    started = time.monotonic()
    deadline = started + timeout
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpError(f"unsupported URL {parts.scheme}://{parts.hostname or ''} (expected http or https)", "url", 0)
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        context = _tls_context(verify, cert) if parts.scheme == "https" else None
        conn = _Connection(host, port, deadline, context)
        try:
            conn.request(method, target, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read(MAX_BODY)
            answer = Answer(
                response.status, response.reason, list(response.getheaders()), data, time.monotonic() - started
            )
        finally:
            conn.close()
    except Exception as exc:
        cause, kind = _classify(exc, host, port, timeout)
        raise HttpError(cause, kind, time.monotonic() - started) from None
    return answer


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url``, without credentials, path or query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def expect_success(method: str, url: str, answer: Answer) -> None:
    """Raise ``HttpError`` unless ``answer`` is a 2xx; a redirect is refused (never followed with credentials)."""
    if 200 <= answer.status < 300:
        return
    status = f"HTTP {answer.status} {answer.reason}".strip()
    if 300 <= answer.status < 400:
        location = dict((k.lower(), v) for k, v in answer.headers).get("location", "")
        where = origin(location) if "://" in location else "the same host"
        raise HttpError(
            f"{status}: {method} redirected to {where}; redirects are not followed (credentials stay put)",
            "redirect",
            answer.elapsed,
            answer.status,
        )
    raise HttpError(status, "status", answer.elapsed, answer.status)
