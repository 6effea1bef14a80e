"""The ``/metrics`` answer as prometheus_client's apps give it (format negotiation, gzip), with our own body.

The body comes from a ``render(accept)`` callable (the storage's direct exposition); a request filtering families
with ``name[]`` is answered by prometheus_client's own app, which implements that filter.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

__all__ = ["Render", "metrics_asgi", "metrics_wsgi"]

#: ``render(accept_header) -> (body, content type)``.
Render = Callable[[str], tuple[bytes, str]]


def _gzip_accepted(accept_encoding: str) -> bool:
    """Whether ``Accept-Encoding`` names gzip (as prometheus_client reads it)."""
    return any(part.split(";")[0].strip().lower() == "gzip" for part in accept_encoding.split(","))


def _answer(render: Render, accept: str, accept_encoding: str) -> tuple[str, list[tuple[str, str]], bytes]:
    body, content_type = render(accept)
    headers = [("Content-Type", content_type)]
    if _gzip_accepted(accept_encoding):
        body = gzip.compress(body)
        headers.append(("Content-Encoding", "gzip"))
    return "200 OK", headers, body


def metrics_wsgi(render: Render, fallback: Any) -> Callable[..., Iterable[bytes]]:
    """A WSGI app answering a scrape with ``render``'s body (``fallback``, prometheus_client's app, for ``name[]``)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if "name[]" in parse_qs(environ.get("QUERY_STRING", "")):
            result: Iterable[bytes] = fallback(environ, start_response)
            return result
        status, headers, body = _answer(render, environ.get("HTTP_ACCEPT", ""), environ.get("HTTP_ACCEPT_ENCODING", ""))
        start_response(status, headers)
        return [body]

    return app


def metrics_asgi(render: Render, fallback: Callable[[], Any]) -> Callable[..., Any]:
    """An ASGI app answering a scrape with ``render``'s body (``fallback()``'s app for ``name[]``)."""
    holder: list[Any] = []

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if "name[]" in parse_qs(scope.get("query_string", b"").decode("utf8")):
            if not holder:
                holder.append(fallback())
            await holder[0](scope, receive, send)
            return
        headers = scope.get("headers") or []
        accept = ",".join(v.decode("utf8") for k, v in headers if k.decode("utf8").lower() == "accept")
        encoding = ",".join(v.decode("utf8") for k, v in headers if k.decode("utf8").lower() == "accept-encoding")
        status, answer, body = _answer(render, accept, encoding)
        payload = await receive()
        if payload.get("type") == "http.request":
            raw = [(k.encode("utf8"), v.encode("utf8")) for k, v in answer]
            await send({"type": "http.response.start", "status": int(status.split(" ")[0]), "headers": raw})
            await send({"type": "http.response.body", "body": body})

    return app
