"""HTTP server metrics for any WSGI app (Flask, ...), per OpenTelemetry's HTTP semantic conventions.

    app.wsgi_app = rfs_otel.wsgi.MetricsMiddleware(app.wsgi_app)   # Flask
    application = rfs_otel.wsgi.MetricsMiddleware(application)     # any WSGI app

``http.route`` is Flask's (Werkzeug's) matched ``url_rule``, never the raw path; requests no rule matched share
one value. A response is timed until the server closes its body iterable, so streaming responses count in full;
exceptions are counted (``error.type``) and propagate as is.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ._middleware.recorder import DEFAULT_EXCLUDED_PATHS, UNMATCHED_ROUTE, HttpMetrics, method_of

if TYPE_CHECKING:
    from ._collector import MetricsCollector

__all__ = ["DEFAULT_EXCLUDED_PATHS", "UNMATCHED_ROUTE", "MetricsMiddleware", "werkzeug_route"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


#: Where the Flask signal handler leaves the matched rule of a request that raised (Flask then drops its request).
_FAILED_ROUTE = "rfs_otel.route"
_flask_hooked = False


def werkzeug_route(environ: Environ) -> str | None:
    """The rule Flask/Werkzeug matched (``/users/<int:id>``), read from the request Werkzeug stored in ``environ``."""
    request = environ.get("werkzeug.request")
    rule = getattr(request, "url_rule", None)
    text = getattr(rule, "rule", None)
    return text if isinstance(text, str) else environ.get(_FAILED_ROUTE)


def _remember_failed_route(sender: object, **extra: object) -> None:
    """Flask's ``got_request_exception``: keep the rule while the request context still exists."""
    from flask import request

    text = getattr(request.url_rule, "rule", None)
    if isinstance(text, str):
        request.environ[_FAILED_ROUTE] = text


def _hook_flask() -> None:
    """With ``PROPAGATE_EXCEPTIONS`` Flask pops its request before the error reaches us: note the rule before."""
    global _flask_hooked
    if _flask_hooked or "flask" not in sys.modules:
        return
    from flask.signals import got_request_exception

    got_request_exception.connect(_remember_failed_route)
    _flask_hooked = True


class MetricsMiddleware:
    """WSGI middleware recording ``http.server.request.duration`` and ``http.server.active_requests``."""

    def __init__(
        self,
        app: WSGIApp,
        collector: MetricsCollector | None = None,
        *,
        excluded_paths: Iterable[str] = DEFAULT_EXCLUDED_PATHS,
        body_sizes: bool = False,
        route: Callable[[Environ], str | None] = werkzeug_route,
    ) -> None:
        self.app = app
        self.metrics = HttpMetrics(collector, excluded_paths=excluded_paths, body_sizes=body_sizes)
        self.route = route
        if route is werkzeug_route:
            _hook_flask()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self.metrics.excluded(environ.get("PATH_INFO", "") or "/") or not self.metrics.claim(environ):
            return self.app(environ, start_response)
        request = _Request(self, environ)
        try:
            body = self.app(environ, request.start_response(start_response))
        except BaseException as exc:
            request.finish(type(exc).__qualname__)
            raise
        return _Body(body, request)


class _Request:
    """One request in flight: its status and sizes, finished once whichever way it ends."""

    __slots__ = ("active", "done", "environ", "method", "middleware", "route", "scheme", "sent", "start", "status")

    def __init__(self, middleware: MetricsMiddleware, environ: Environ) -> None:
        self.middleware = middleware
        self.environ = environ
        self.method = method_of(environ.get("REQUEST_METHOD", "GET"))
        self.scheme = environ.get("wsgi.url_scheme", "http")
        self.status = 500
        self.sent = 0
        self.done = False
        self.route: str | None = None
        self.active = middleware.metrics.active(self.method, self.scheme)
        self.active.increment()
        self.start = time.perf_counter()

    def start_response(self, start_response: StartResponse) -> StartResponse:
        def watched(status: str, headers: Any, exc_info: Any = None) -> Any:
            self.route = self.middleware.route(self.environ)  # Flask forgets its request once the app returns
            try:
                self.status = int(status.split(None, 1)[0])
            except (ValueError, IndexError):
                self.status = 500
            return (
                start_response(status, headers, exc_info) if exc_info is not None else start_response(status, headers)
            )

        return watched

    def finish(self, error: str | None) -> None:
        if self.done:
            return
        self.done = True
        seconds = time.perf_counter() - self.start
        self.active.decrement()
        metrics = self.middleware.metrics
        sizes = (_request_size(self.environ), self.sent) if metrics.body_sizes else None
        route = self.route or self.middleware.route(self.environ)
        metrics.finish(seconds, self.method, self.scheme, route, self.status, error, sizes)


class _Body:
    """The app's response iterable, passed through; the request is finished at its last chunk or when the server
    closes it, whichever comes first (a server that never calls ``close()`` must not leave it active forever)."""

    __slots__ = ("_body", "_request")

    def __init__(self, body: Iterable[bytes], request: _Request) -> None:
        self._body = body
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        request = self._request
        try:
            for chunk in self._body:
                request.sent += len(chunk)
                yield chunk
        except GeneratorExit:  # the server stopped reading (the client went away): not an error of the app
            request.finish(None)
            raise
        except BaseException as exc:
            request.finish(type(exc).__qualname__)
            raise
        request.finish(None)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._request.finish(None)


def _request_size(environ: Environ) -> int:
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0
