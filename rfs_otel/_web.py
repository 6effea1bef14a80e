"""The HTTP side of the pull endpoint: ``/metrics``, the live dashboard at ``/`` and its JSON API.

One set of routes serves the built-in threaded server, a WSGI app and an ASGI app. Optional
HTTP basic auth and TLS protect everything it serves.
"""

from __future__ import annotations

import base64
import hmac
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from importlib import resources
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

if TYPE_CHECKING:
    from ._dashboard import MetricsDashboard

__all__ = ["WebApp", "serve"]

_STATIC = {
    "/": ("dashboard.html", "text/html; charset=utf-8"),
    "/static/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/static/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}
_SECURITY_HEADERS = [
    ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
]

Response = tuple[str, list[tuple[str, str]], bytes]


def _static(name: str) -> bytes:
    return resources.files("rfs_otel").joinpath("_static").joinpath(name).read_bytes()


class WebApp:
    """Routes shared by the WSGI app, the ASGI app and the built-in server."""

    def __init__(
        self,
        metrics_wsgi: Any,
        metrics_asgi: Callable[[], Any],
        dashboard: Callable[[], MetricsDashboard | None],
        auth: tuple[str, str] | None = None,
    ) -> None:
        self._metrics_wsgi = metrics_wsgi
        self._metrics_asgi_factory = metrics_asgi
        self._metrics_asgi: Any = None
        self._dashboard = dashboard
        self._auth = None if auth is None else "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()

    def _authorized(self, header: str | None) -> bool:
        if self._auth is None:
            return True
        return header is not None and hmac.compare_digest(header.encode(), self._auth.encode())

    def respond(self, method: str, path: str) -> Response | None:
        """The response for a non-``/metrics`` route, or None to let ``/metrics`` handle it."""
        if path in ("/metrics", "/metrics/"):
            return None
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", [("Allow", "GET, HEAD")], b"method not allowed\n"
        if path in _STATIC:
            name, content_type = _STATIC[path]
            return "200 OK", [("Content-Type", content_type), *_SECURITY_HEADERS], _static(name)
        if path in ("/api/dashboard", "/api/series"):
            dashboard = self._dashboard()
            if dashboard is None:
                return "503 Service Unavailable", [], b"no collector attached to this storage yet\n"
            series = [m.to_dict() for m in dashboard.collector.snapshot()]
            if path == "/api/series":
                body: Any = series
            else:
                body = {"data": dashboard.data(), "history": dashboard.history(), "series": series}
            payload = json.dumps(body, allow_nan=False, default=_json_default).encode()
            return "200 OK", [("Content-Type", "application/json"), *_SECURITY_HEADERS], payload
        return "404 Not Found", [("Content-Type", "text/plain")], b"not found\n"

    # -- WSGI ---------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self._authorized(environ.get("HTTP_AUTHORIZATION")):
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="rfs_otel"')])
            return [b"authentication required\n"]
        response = self.respond(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/") or "/")
        if response is None:
            return self._metrics_wsgi(environ, start_response)  # type: ignore[no-any-return]
        status, headers, body = response
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]

    # -- ASGI ---------------------------------------------------------------------------------

    async def asgi(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not self._authorized(headers.get("authorization")):
            await _asgi_send(
                send, "401 Unauthorized", [("WWW-Authenticate", 'Basic realm="rfs_otel"')], b"authentication required\n"
            )
            return
        response = self.respond(scope.get("method", "GET"), scope.get("path", "/") or "/")
        if response is None:
            if self._metrics_asgi is None:
                self._metrics_asgi = self._metrics_asgi_factory()
            await self._metrics_asgi(scope, receive, send)
            return
        await _asgi_send(send, *response)


async def _asgi_send(send: Callable[..., Any], status: str, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": int(status.split(maxsplit=1)[0]), "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _json_default(value: object) -> object:
    return str(value)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(
    app: Callable[..., Iterable[bytes]],
    host: str,
    port: int,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``app`` from a daemon thread (TLS when ``certfile`` is given); port 0 picks a free one."""
    server_class = _ThreadingServer6 if ":" in host else _ThreadingServer
    server = make_server(host, port, app, server_class=server_class, handler_class=_QuietHandler)
    if certfile is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(certfile, keyfile)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="rfs-otel-http", daemon=True)
    thread.start()
    return server, thread
