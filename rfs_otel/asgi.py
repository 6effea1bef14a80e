"""HTTP server metrics for any ASGI app (Starlette, FastAPI, ...), per OpenTelemetry's HTTP semantic conventions.

    app.add_middleware(rfs_otel.asgi.MetricsMiddleware)       # Starlette / FastAPI
    app = rfs_otel.asgi.MetricsMiddleware(app)                 # any ASGI app

``http.route`` is the matched route's template (Starlette/FastAPI set ``scope["route"]``; mounted sub-apps add
their prefix), never the raw path; requests no route matched share one value. A response is timed to its last
body message, so streaming responses count in full; exceptions are counted (``error.type``) and propagate as is.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

from ._middleware.recorder import DEFAULT_EXCLUDED_PATHS, UNMATCHED_ROUTE, HttpMetrics, method_of
from ._web.app import asgi_route

if TYPE_CHECKING:
    from ._collector import MetricsCollector

__all__ = ["DEFAULT_EXCLUDED_PATHS", "UNMATCHED_ROUTE", "MetricsMiddleware", "starlette_route"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def starlette_route(scope: Scope, root_path: str) -> str | None:
    """The template of the route Starlette/FastAPI matched (mount prefixes included), or None if none matched."""
    route = scope.get("route")
    if route is None:
        return None
    mounted = str(scope.get("root_path", ""))[len(root_path) :]  # what Mounts below this middleware matched
    if hasattr(route, "routes"):  # the innermost match is a Mount of a non-Starlette app
        return mounted + "/{path}"
    path = getattr(route, "path", None)
    return mounted + path if isinstance(path, str) else None


class MetricsMiddleware:
    """ASGI middleware recording ``http.server.request.duration`` and ``http.server.active_requests``."""

    def __init__(
        self,
        app: ASGIApp,
        collector: MetricsCollector | None = None,
        *,
        excluded_paths: Iterable[str] = DEFAULT_EXCLUDED_PATHS,
        body_sizes: bool = False,
        route: Callable[[Scope, str], str | None] = starlette_route,
    ) -> None:
        self.app = app
        self.metrics = HttpMetrics(collector, excluded_paths=excluded_paths, body_sizes=body_sizes)
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.metrics.excluded(asgi_route(scope)[0]) or not self.metrics.claim(scope):
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        method = method_of(scope.get("method", "GET"))
        scheme = scope.get("scheme", "http")
        root_path = str(scope.get("root_path", ""))
        state: list[Any] = [500, 0.0, 0]  # status, end time, response bytes
        sizes = metrics.body_sizes

        async def send_and_watch(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                state[0] = message["status"]
            elif kind == "http.response.body":
                if sizes:
                    state[2] += len(message.get("body", b""))
                if not message.get("more_body", False):
                    state[1] = time.perf_counter()
            await send(message)

        active = metrics.active(method, scheme)
        active.increment()
        error: str | None = None
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_watch)
        except BaseException as exc:  # counted, then re-raised unchanged; no response started means a 500
            error = type(exc).__qualname__
            raise
        finally:
            end = state[1] or time.perf_counter()
            active.decrement()
            body = (_request_size(scope), state[2]) if sizes else None
            metrics.finish(end - start, method, scheme, self.route(scope, root_path), int(state[0]), error, body)


def _request_size(scope: Scope) -> int:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return max(0, int(value))
            except ValueError:
                return 0
    return 0
