"""Django views for the hostile middleware tests: a view raising Http404, one raising PermissionDenied, a stream."""

from __future__ import annotations

from collections.abc import Iterator

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import path


def missing(request: HttpRequest, item: int) -> HttpResponse:
    raise Http404(f"no item {item}")


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("not yours")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def chunks() -> Iterator[bytes]:
        yield b"a" * 10
        yield b"b" * 10

    return StreamingHttpResponse(chunks())


def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [
    path("items/<int:item>", missing),
    path("forbidden", forbidden),
    path("stream", stream),
    path("ok", ok),
]
