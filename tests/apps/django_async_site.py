"""Async Django views for the async middleware test: a route template, an error and an async stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.urls import path


async def order(request: HttpRequest, order_id: int) -> JsonResponse:
    await asyncio.sleep(0)
    return JsonResponse({"id": order_id})


async def fail(request: HttpRequest) -> JsonResponse:
    raise LookupError("no such order in /fail")


async def stream(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            await asyncio.sleep(0.04)
            yield b"y" * 10

    return StreamingHttpResponse(chunks())


urlpatterns = [
    path("orders/<int:order_id>", order),
    path("fail", fail),
    path("stream", stream),
]
