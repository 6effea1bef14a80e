"""The HTTP side of the pull endpoint: ``/metrics``, the live dashboard at ``/`` and its JSON API.

One set of routes serves the built-in server (``_http_server``), a WSGI app and an ASGI app. Routes are relative
to where the app is mounted (WSGI ``SCRIPT_NAME``/``PATH_INFO``, ASGI ``root_path``), and the page uses relative
URLs, so everything works under any prefix. Mounted at ``.../metrics``, the mount point answers the scrape with or
without its slash (Starlette redirects one to the other); the page is served there only to a browser (``Accept``
naming ``text/html``).
Optional HTTP basic auth and TLS protect everything it serves. Every path answers ``GET`` and ``HEAD`` (no body)
alike, ``OPTIONS`` with 204 and the allowed methods, anything else with 405.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ssl
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from .._util.json import strict_dumps
from .dashboard import parse_window
from .server import Limits, PullServer

if TYPE_CHECKING:
    from .dashboard import MetricsDashboard

__all__ = ["WebApp", "asgi_route", "serve", "tls_context"]

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
_NOT_FOUND: Response = ("404 Not Found", [("Content-Type", "text/plain")], b"not found\n")


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
        dashboard_enabled: bool = True,
    ) -> None:
        self._metrics_wsgi = metrics_wsgi
        self._metrics_asgi_factory = metrics_asgi
        self._metrics_asgi: Any = None
        self._dashboard = dashboard
        self._dashboard_enabled = dashboard_enabled
        self._auth = None if auth is None else f"{auth[0]}:{auth[1]}".encode()

    def _authorized(self, header: str | None) -> bool:
        if self._auth is None:
            return True
        given = _basic_credentials(header)
        return given is not None and hmac.compare_digest(given, self._auth)

    def respond(self, method: str, path: str, prefix: str = "", accept: str = "", query: str = "") -> Response | None:
        """The response to ``path`` below mount point ``prefix`` (body even for HEAD), or None to serve metrics."""
        if method == "OPTIONS":
            return "204 No Content", [_ALLOW], b""
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", [_ALLOW, ("Content-Type", "text/plain")], b"method not allowed\n"
        at_metrics = prefix.rstrip("/").endswith("/metrics")
        if path in ("/metrics", "/metrics/") or (path == "" and (at_metrics or not self._dashboard_enabled)):
            return None
        if path == "":  # the mount point without its slash: the page's relative URLs need the slash
            location = quote(prefix.rstrip("/").rsplit("/", 1)[-1] + "/")
            return "308 Permanent Redirect", [("Location", location), ("Content-Type", "text/plain")], b""
        if not self._dashboard_enabled:
            return None if path == "/" else _NOT_FOUND
        if path == "/" and at_metrics and "text/html" not in accept:
            return None
        if path in _STATIC:
            name, content_type = _STATIC[path]
            return "200 OK", [("Content-Type", content_type), *_SECURITY_HEADERS], _static(name)
        if path in ("/api/dashboard", "/api/series"):
            return self._api(path, query)
        return _NOT_FOUND

    def _api(self, path: str, query: str = "") -> Response:
        dashboard = self._dashboard()
        if dashboard is None:
            return "503 Service Unavailable", [], b"no collector attached to this storage yet\n"
        window = parse_qs(query).get("window", [None])[-1] if path == "/api/dashboard" else None
        try:
            seconds = None if window is None else parse_window(window)
        except ValueError as exc:
            return "400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")], f"{exc}\n".encode()
        series = [m.to_dict() for m in dashboard.collector.snapshot()]
        if path == "/api/series":
            body: Any = series
        else:
            body = {**dashboard.view(seconds), "series": series}
        payload = strict_dumps(body).encode()
        return "200 OK", [("Content-Type", "application/json"), *_SECURITY_HEADERS], payload

    # -- WSGI ---------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if not self._authorized(environ.get("HTTP_AUTHORIZATION")):
            response: Response | None = ("401 Unauthorized", _CHALLENGE, b"authentication required\n")
        else:
            prefix = environ.get("SCRIPT_NAME", "")
            path = environ.get("PATH_INFO", "") or ("" if prefix else "/")
            accept, query = environ.get("HTTP_ACCEPT", ""), environ.get("QUERY_STRING", "")
            response = self.respond(method, path, prefix, accept, query)
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
        query = bytes(scope.get("query_string", b"")).decode("latin-1")
        response = self.respond(method, *asgi_route(scope), headers.get("accept", ""), query)
        if response is None:
            if self._metrics_asgi is None:
                self._metrics_asgi = self._metrics_asgi_factory()
            reply = _drop_body(send) if method == "HEAD" else send
            await self._metrics_asgi({**scope, "method": "GET"}, receive, reply)
            return
        await _asgi_send(send, method, *response)


def asgi_route(scope: Mapping[str, Any]) -> tuple[str, str]:
    """(path below the mount point, mount point) of an ASGI request; ``path`` may or may not include ``root_path``."""
    root = str(scope.get("root_path", "")).rstrip("/")
    path = str(scope.get("path", "/"))
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root) :], root
    return path or ("" if root else "/"), root


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
