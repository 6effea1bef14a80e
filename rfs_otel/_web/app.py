"""The HTTP side of the pull endpoint: ``/metrics``, the live dashboard at ``/`` and its JSON API.

One set of routes serves the built-in server (``_http_server``), a WSGI app and an ASGI app. Optional
HTTP basic auth and TLS protect everything it serves. Every path answers ``GET`` and ``HEAD`` (no body)
alike, ``OPTIONS`` with 204 and the allowed methods, anything else with 405.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ssl
from collections.abc import Callable, Iterable
from importlib import resources
from typing import TYPE_CHECKING, Any

from .._util.json import strict_dumps
from .server import Limits, PullServer

if TYPE_CHECKING:
    from .dashboard import MetricsDashboard

__all__ = ["WebApp", "serve", "tls_context"]

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
_ALLOW = ("Allow", "GET, HEAD, OPTIONS")
_CHALLENGE = [("WWW-Authenticate", 'Basic realm="rfs_otel"'), ("Content-Type", "text/plain")]

Response = tuple[str, list[tuple[str, str]], bytes]


def _static(name: str) -> bytes:
    return resources.files("rfs_otel._web").joinpath("static").joinpath(name).read_bytes()


def _basic_credentials(header: str | None) -> bytes | None:
    """The decoded ``user:password`` of a ``Basic`` Authorization header (scheme in any case), else None."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(token.strip().encode("latin-1"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


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
        self._auth = None if auth is None else f"{auth[0]}:{auth[1]}".encode()

    def _authorized(self, header: str | None) -> bool:
        if self._auth is None:
            return True
        given = _basic_credentials(header)
        return given is not None and hmac.compare_digest(given, self._auth)

    def respond(self, method: str, path: str) -> Response | None:
        """The response for a request (body included even for HEAD), or None to let ``/metrics`` serve a GET."""
        if method == "OPTIONS":
            return "204 No Content", [_ALLOW], b""
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", [_ALLOW, ("Content-Type", "text/plain")], b"method not allowed\n"
        if path in ("/metrics", "/metrics/"):
            return None
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
            payload = strict_dumps(body).encode()
            return "200 OK", [("Content-Type", "application/json"), *_SECURITY_HEADERS], payload
        return "404 Not Found", [("Content-Type", "text/plain")], b"not found\n"

    # -- WSGI ---------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if not self._authorized(environ.get("HTTP_AUTHORIZATION")):
            response: Response | None = ("401 Unauthorized", _CHALLENGE, b"authentication required\n")
        else:
            response = self.respond(method, environ.get("PATH_INFO", "/") or "/")
        if response is None:
            body = self._metrics_wsgi({**environ, "REQUEST_METHOD": "GET"}, start_response)
            return [] if method == "HEAD" else body
        status, headers, payload = response
        start_response(status, [*headers, ("Content-Length", str(len(payload)))])
        return [b"" if method == "HEAD" else payload]

    # -- ASGI ---------------------------------------------------------------------------------

    async def asgi(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method = scope.get("method", "GET")
        if not self._authorized(headers.get("authorization")):
            await _asgi_send(send, method, "401 Unauthorized", _CHALLENGE, b"authentication required\n")
            return
        response = self.respond(method, scope.get("path", "/") or "/")
        if response is None:
            if self._metrics_asgi is None:
                self._metrics_asgi = self._metrics_asgi_factory()
            reply = _drop_body(send) if method == "HEAD" else send
            await self._metrics_asgi({**scope, "method": "GET"}, receive, reply)
            return
        await _asgi_send(send, method, *response)


def _drop_body(send: Callable[..., Any]) -> Callable[..., Any]:
    async def send_head(message: dict[str, Any]) -> None:
        if message.get("type") == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_head


async def _asgi_send(
    send: Callable[..., Any], method: str, status: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": int(status.split(maxsplit=1)[0]), "headers": raw})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


def tls_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """A TLS 1.2+ server context; a missing, unreadable or unusable file is a ``ValueError`` naming it."""
    for what, path in (("tls_certfile", certfile), ("tls_keyfile", keyfile)):
        try:
            with open(path, "rb") as handle:
                handle.read(1)
        except OSError as exc:
            raise ValueError(f"PrometheusStorage {what} {path!r} cannot be read: {exc.strerror or exc}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(
            f"PrometheusStorage tls_certfile {certfile!r} and tls_keyfile {keyfile!r} are not a matching PEM "
            f"certificate and private key: {exc}"
        ) from None
    return context


def serve(
    app: Callable[..., Iterable[bytes]], host: str, port: int, context: ssl.SSLContext | None = None
) -> PullServer:
    """Serve ``app`` from daemon threads (TLS when ``context`` is given) within the default ``Limits``."""
    return PullServer(app, host, port, context, Limits())
