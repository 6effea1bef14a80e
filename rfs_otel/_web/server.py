"""The built-in pull server: bounded, every read and write under a deadline, TLS per connection, quick to stop.

One selector thread accepts connections and holds them (no thread each) until they send their first byte;
then a worker thread (at most ``Limits.workers`` at once) does the TLS handshake, reads the request head
and writes the response, each under a deadline. Whatever clients do, ``shutdown()`` returns within
``Limits.stop`` seconds: it closes the listener and shuts down every client socket it still holds.
"""

from __future__ import annotations

import collections
import io
import logging
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any, cast
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler

__all__ = ["Limits", "PullServer"]

_log = logging.getLogger("rfs_otel.http")
_MAX_LINE = 65536
_GRACE = 1.0  # seconds a queued connection whose whole request head has arrived may wait past its deadline


@dataclass(frozen=True)
class Limits:
    """The server's bounds and deadlines (seconds); the defaults are what the docs promise."""

    workers: int = 8  # requests served at once
    connections: int = 128  # open client connections held in all (the oldest idle one is dropped beyond)
    request: float = 5.0  # from accept: TLS handshake plus the whole request head
    write: float = 10.0  # from the first byte of the response to its last
    stop: float = 2.0  # shutdown() returns within this


class _DeadlineReader(io.RawIOBase):
    """A socket's input that fails with ``TimeoutError`` once ``deadline`` (monotonic) passes: slowloris-proof."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request head not received in time")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


class _DeadlineWriter(io.BufferedIOBase):
    """A socket's output that fails with ``TimeoutError`` once ``budget`` seconds pass after the first write."""

    def __init__(self, sock: socket.socket, budget: float) -> None:
        self._sock = sock
        self._budget = budget
        self._deadline: float | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self._deadline is None:
            self._deadline = time.monotonic() + self._budget
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("response not sent in time")
        self._sock.settimeout(remaining)
        self._sock.sendall(data)
        with memoryview(data) as view:
            return view.nbytes


class _AppHandler(ServerHandler):
    request_handler: WSGIRequestHandler  # wsgiref's back-pointer, used to log the request

    def log_exception(self, exc_info: Any) -> None:
        if isinstance(exc_info[1], OSError):  # the client did not take the answer in time, or went away
            _log.debug("rfs_otel HTTP endpoint: a client did not take its answer (%s); connection closed", exc_info[1])
            return
        _log.warning("rfs_otel HTTP endpoint: the app raised; answered 500", exc_info=exc_info)


class _RequestHandler(WSGIRequestHandler):
    """wsgiref's handler reading and writing through deadline-bound streams; logs nothing per request."""

    server: PullServer  # type: ignore[assignment]
    default_request_version = "HTTP/1.0"  # so a malformed request line still gets a status line, not a bare body

    def __init__(self, sock: socket.socket, address: Any, server: PullServer, deadline: float) -> None:
        self._deadline = deadline
        super().__init__(sock, address, server)  # type: ignore[arg-type]

    def setup(self) -> None:
        self.connection = self.request
        self.rfile = io.BufferedReader(_DeadlineReader(self.request, self._deadline))
        self.wfile = _DeadlineWriter(self.request, self.server.limits.write)

    def handle(self) -> None:
        self.raw_requestline = self.rfile.readline(_MAX_LINE + 1)
        if len(self.raw_requestline) > _MAX_LINE:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():  # it answered 400/431/505 itself
            return
        output = cast(IO[bytes], self.wfile)
        handler = _AppHandler(self.rfile, output, self.get_stderr(), self.get_environ(), multithread=True)
        handler.request_handler = self
        handler.run(self.server.get_app())

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _head_buffered(sock: socket.socket) -> bool:
    """Whether a plain-HTTP request head (up to its blank line) waits unread in ``sock`` (non-blocking peek)."""
    try:
        return b"\r\n\r\n" in sock.recv(_MAX_LINE, socket.MSG_PEEK)
    except OSError:
        return False


def _hard_close(sock: socket.socket) -> None:
    """Wake any thread blocked on ``sock`` (shutdown, not close: the owner closes it)."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class PullServer:
    """Serve a WSGI app on ``host:port`` from daemon threads, within ``limits``; TLS when ``context`` is given."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        host: str,
        port: int,
        context: ssl.SSLContext | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self._app = app
        self._context = context
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, port), family=family, backlog=128)
        self._listener.setblocking(False)
        self.server_address: tuple[Any, ...] = self._listener.getsockname()
        self.server_port: int = self.server_address[1]
        self.base_environ = {
            "SERVER_NAME": host,
            "SERVER_PORT": str(self.server_port),
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REMOTE_HOST": "",
            "CONTENT_LENGTH": "",
            "SCRIPT_NAME": "",
        }
        if context is not None:
            self.base_environ["HTTPS"] = "on"  # wsgiref derives wsgi.url_scheme from it
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._idle: dict[socket.socket, tuple[Any, float]] = {}  # accepted, no byte yet (oldest first)
        # Sent a first byte, waiting for a worker: (socket, address, deadline, given the grace already).
        self._ready: collections.deque[tuple[socket.socket, Any, float, bool]] = collections.deque()
        self._active: dict[threading.Thread, socket.socket] = {}
        self._thread = threading.Thread(target=self._loop, name="rfs-otel-http", daemon=True)
        self._thread.start()

    def get_app(self) -> Callable[..., Iterable[bytes]]:
        return self._app

    # -- the selector thread -----------------------------------------------------------------

    def _loop(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self._stopping.is_set():
                try:
                    self._step(selector)
                except Exception:  # pragma: no cover - a bug here must neither kill the host nor spin
                    _log.exception("rfs_otel HTTP endpoint: selector loop error; serving goes on")
                    self._stopping.wait(0.1)
        finally:
            selector.close()
            self._listener.close()
            for sock in [*self._idle, *(entry[0] for entry in self._ready)]:
                sock.close()
            self._idle.clear()
            self._ready.clear()

    def _step(self, selector: selectors.BaseSelector) -> None:
        for key, _ in selector.select(timeout=0.25):
            if key.fileobj is self._listener:
                self._accept(selector)
            elif key.fileobj is self._wake_r:
                self._drain_wake()
            else:
                self._readable(selector, key.fileobj)  # type: ignore[arg-type]
        self._expire(selector)
        self._dispatch()

    def _accept(self, selector: selectors.BaseSelector) -> None:
        for _ in range(64):
            try:
                sock, address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and friends: shed load, do not spin
                _log.debug("rfs_otel HTTP endpoint: accept failed: %s", exc)
                self._stopping.wait(0.05)
                return
            if self._open_count() >= self.limits.connections and not self._drop_oldest_idle(selector):
                sock.close()
                continue
            sock.setblocking(False)
            self._idle[sock] = (address, time.monotonic() + self.limits.request)
            selector.register(sock, selectors.EVENT_READ)

    def _open_count(self) -> int:
        with self._lock:
            return len(self._idle) + len(self._ready) + len(self._active)

    def _drop_oldest_idle(self, selector: selectors.BaseSelector) -> bool:
        if not self._idle:
            return False
        oldest = next(iter(self._idle))
        self._forget(selector, oldest)
        return True

    def _forget(self, selector: selectors.BaseSelector, sock: socket.socket) -> None:
        del self._idle[sock]
        selector.unregister(sock)
        sock.close()

    def _readable(self, selector: selectors.BaseSelector, sock: socket.socket) -> None:
        address, deadline = self._idle.pop(sock)
        selector.unregister(sock)
        self._ready.append((sock, address, deadline, False))

    def _expire(self, selector: selectors.BaseSelector) -> None:
        now = time.monotonic()
        for sock in [s for s, (_, deadline) in self._idle.items() if deadline <= now]:
            self._forget(selector, sock)
        if not any(deadline <= now for _, _, deadline, _ in self._ready):
            return
        kept: collections.deque[tuple[socket.socket, Any, float, bool]] = collections.deque()
        for sock, address, deadline, graced in self._ready:
            if deadline > now:
                kept.append((sock, address, deadline, graced))
            elif not graced and self._context is None and _head_buffered(sock):
                # Its whole request is here; it only waited for a worker held by clients cut at the same deadline.
                kept.append((sock, address, now + _GRACE, True))
            else:
                sock.close()  # slow or silent: shed at its deadline, so a flood of them does not queue for long
        self._ready = kept

    def _dispatch(self) -> None:
        while self._ready and not self._stopping.is_set():
            with self._lock:
                if len(self._active) >= self.limits.workers:
                    return
                sock, address, deadline, graced = self._ready.popleft()
                if graced or (self._context is None and _head_buffered(sock)):
                    deadline = max(deadline, time.monotonic() + _GRACE)  # all there: reading it takes no time
                thread = threading.Thread(
                    target=self._serve, args=(sock, address, deadline), name="rfs-otel-http-worker", daemon=True
                )
                self._active[thread] = sock
            thread.start()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    # -- worker threads ------------------------------------------------------------------------

    def _serve(self, sock: socket.socket, address: Any, deadline: float) -> None:
        me = threading.current_thread()
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            if self._context is not None:
                sock = self._context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                with self._lock:
                    self._active[me] = sock
                if self._stopping.is_set():
                    return
                sock.do_handshake()  # bounded: the socket timeout is a deadline for the whole handshake
            _RequestHandler(sock, address, self, deadline)
        except Exception as exc:  # a hostile or vanished client: drop it, keep serving
            _log.debug("rfs_otel HTTP endpoint: dropped a connection from %s: %r", address, exc)
        finally:
            sock.close()
            with self._lock:
                self._active.pop(me, None)
            self._wake()

    # -- stopping ------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop accepting, cut every client and return within ``limits.stop`` seconds; idempotent."""
        deadline = time.monotonic() + self.limits.stop
        self._stopping.set()
        self._wake()
        self._thread.join(timeout=max(deadline - time.monotonic(), 0))
        with self._lock:
            active = dict(self._active)
        for sock in active.values():
            _hard_close(sock)
        for thread in active:
            thread.join(timeout=max(deadline - time.monotonic(), 0))
        if not self._thread.is_alive():
            self._wake_r.close()
            self._wake_w.close()
