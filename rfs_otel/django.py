"""HTTP server metrics for Django, and the ``/metrics`` endpoint and dashboard under any URL prefix.

    MIDDLEWARE = ["rfs_otel.django.MetricsMiddleware", ...]          # settings.py, first in the list
    RFS_OTEL = {"excluded_paths": ["/metrics", "/health"], "body_sizes": False}   # optional

    urlpatterns = [path("monitoring/", include(rfs_otel.django.metrics_urls(storage))), ...]   # urls.py

``http.route`` is the resolver's route (``/users/<int:user_id>``), never the raw path; requests no pattern matched
share one value. Streaming responses are timed to their last chunk; exceptions are counted and propagate as is.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import URLPattern, path

from ._middleware.recorder import DEFAULT_EXCLUDED_PATHS, UNMATCHED_ROUTE, HttpMetrics, method_of

__all__ = ["DEFAULT_EXCLUDED_PATHS", "UNMATCHED_ROUTE", "MetricsMiddleware", "django_route", "metrics_urls"]

_ERROR = "rfs_otel_error_type"
_Finish = Callable[[int, "str | None", int], None]


def django_route(request: HttpRequest) -> str | None:
    """The matched URL pattern as a path template (``/users/<int:user_id>``), or None if none matched."""
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None)
    if not isinstance(route, str):
        return None
    return "/" + route.lstrip("^")


class MetricsMiddleware:
    """Django middleware recording ``http.server.request.duration`` and ``http.server.active_requests``.

    Sync and async capable: under ASGI with async views Django calls it as a coroutine, with no thread hop.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        options: dict[str, Any] = dict(getattr(settings, "RFS_OTEL", {}))
        self.get_response = get_response
        self.metrics = HttpMetrics(
            options.get("collector"),
            excluded_paths=options.get("excluded_paths", DEFAULT_EXCLUDED_PATHS),
            body_sizes=options.get("body_sizes", False),
        )
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        if self.metrics.excluded(request.path_info) or not self.metrics.claim(request.META):
            return self.get_response(request)
        finish = self._start(request)
        try:
            response = self.get_response(request)
        except BaseException as exc:
            finish(500, type(exc).__qualname__, 0)
            raise
        return self._respond(request, response, finish)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        """The same as a call, awaiting the rest of the chain (Django's async path)."""
        if self.metrics.excluded(request.path_info) or not self.metrics.claim(request.META):
            return await self.get_response(request)
        finish = self._start(request)
        try:
            response = await self.get_response(request)
        except BaseException as exc:
            finish(500, type(exc).__qualname__, 0)
            raise
        return self._respond(request, response, finish)

    def _start(self, request: HttpRequest) -> _Finish:
        """Count the request in flight and return what records it once it ends."""
        metrics = self.metrics
        method = method_of(request.method or "GET")
        scheme = request.scheme or "http"
        active = metrics.active(method, scheme)
        active.increment()
        start = time.perf_counter()
        received = _request_size(request) if metrics.body_sizes else 0

        def finish(status: int, error: str | None, sent: int) -> None:
            active.decrement()
            sizes = (received, sent) if metrics.body_sizes else None
            metrics.finish(time.perf_counter() - start, method, scheme, django_route(request), status, error, sizes)

        return finish

    def _respond(self, request: HttpRequest, response: HttpResponseBase, finish: _Finish) -> HttpResponseBase:
        # A view's exception Django answered with a 4xx (Http404, PermissionDenied) is no server error, as Flask's
        # abort() and Starlette's HTTPException are not: error.type only with a 5xx (OTel's HTTP conventions).
        error = getattr(request, _ERROR, None) if response.status_code >= 500 else None
        if not response.streaming:
            finish(response.status_code, error, len(getattr(response, "content", b"")))
        elif getattr(response, "is_async", False):
            content = response.streaming_content
            response.streaming_content = _ATimed(content, response.status_code, error, finish)
        else:
            content = response.streaming_content
            response.streaming_content = _Timed(content, response.status_code, error, finish)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Remember the view's exception type for ``error.type``; Django's handling goes on unchanged."""
        setattr(request, _ERROR, type(exception).__qualname__)


class _Finishing:
    """A streaming body passed through, finished once: at its last chunk, on an error, or when Django closes the
    response (also one never iterated, whose generator ``finally`` would never run)."""

    def __init__(self, chunks: Any, status: int, error: str | None, finish: _Finish) -> None:
        self._chunks = chunks
        self._status = status
        self._error = error
        self._finish: _Finish | None = finish
        self._sent = 0

    def _end(self, error: str | None) -> None:
        finish, self._finish = self._finish, None
        if finish is not None:
            finish(self._status, error, self._sent)

    def close(self) -> None:
        self._end(self._error)


class _Timed(_Finishing):
    """A sync streaming body (Django's WSGI handler)."""

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._chunks:
                self._sent += len(chunk)
                yield chunk
        except GeneratorExit:  # the server stopped reading (the client went away): not an error of the app
            self._end(self._error)
            raise
        except BaseException as exc:
            self._end(type(exc).__qualname__)
            raise
        self._end(self._error)


class _ATimed(_Finishing):
    """An async streaming body (Django's ASGI handler); it has no ``__iter__``, which is how Django tells them apart."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks:
                self._sent += len(chunk)
                yield chunk
        except GeneratorExit:
            self._end(self._error)
            raise
        except BaseException as exc:
            self._end(type(exc).__qualname__)
            raise
        self._end(self._error)


def _request_size(request: HttpRequest) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def metrics_urls(storage: Any) -> list[URLPattern]:
    """URL patterns serving ``storage``'s WSGI app below the prefix they are included under."""
    app = storage.wsgi_app()

    def view(request: HttpRequest, rest: str) -> HttpResponse:
        matched = request.path_info[: len(request.path_info) - len(rest)]
        prefix, sub = (matched[:-1], "/" + rest) if matched.endswith("/") else (matched, rest)
        script = str(request.META.get("SCRIPT_NAME", "")).rstrip("/")
        environ = {**request.META, "SCRIPT_NAME": script + prefix, "PATH_INFO": sub}
        reply: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            reply[:] = [status, headers]

        body = b"".join(app(environ, start_response))
        status, headers = reply
        response = HttpResponse(body, status=int(status.split(None, 1)[0]))
        for name, value in headers:
            response[name] = value
        return response

    return [path("", view, {"rest": ""}), path("<path:rest>", view)]
