"""Hostile use of the request middleware, the dashboard and the rules file: the cases a new user trips over."""

from __future__ import annotations

import asyncio
import io
import json
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from .apps.django_settings import configure

if not settings.configured:  # the shared test settings, whichever test module runs first
    configure()

from django.core.handlers.wsgi import WSGIHandler
from django.test import Client as DjangoClient
from django.test import override_settings
from fastapi import FastAPI
from flask import Flask, abort
from starlette.testclient import TestClient
from werkzeug.test import Client as WerkzeugClient

import rfs_otel.asgi
import rfs_otel.wsgi
from rfs_otel import AlertRule, MetricsCollector, PrometheusStorage, to_prometheus_rules

from .http_helpers import DURATION, active, requests
from .servers import promtool_check_rules

DJANGO_MIDDLEWARE = "rfs_otel.django.MetricsMiddleware"


@pytest.fixture
def collector(default_collector: MetricsCollector) -> MetricsCollector:
    return default_collector  # the middleware records into the default collector


def _streaming_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])

    def chunks() -> Iterator[bytes]:
        yield b"first"
        yield b"second"

    return chunks()


def _environ(path: str = "/stream", method: str = "GET") -> dict[str, Any]:
    return {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.url_scheme": "http", "SCRIPT_NAME": ""}


def _close(body: Iterable[bytes]) -> None:
    """What a WSGI server does when it is done with a response body."""
    close = getattr(body, "close", None)
    assert close is not None, f"{body!r} has no close()"
    close()


def _error_types(collector: MetricsCollector) -> dict[tuple[str, str, str], str | None]:
    return {key: series["labels"].get("error.type") for key, series in requests(collector).items()}


# -- WSGI -------------------------------------------------------------------------------------


def test_wsgi_body_read_to_its_end_but_never_closed_is_recorded(collector: MetricsCollector) -> None:
    """A server (or test harness) that reads the body but never calls close() still ends the request."""
    app = rfs_otel.wsgi.MetricsMiddleware(_streaming_app, collector)
    assert list(app(_environ(), lambda *args: None)) == [b"first", b"second"]
    assert active(collector) == 0
    assert requests(collector)[("GET", "unmatched", "200")]["count"] == 1


def test_wsgi_client_gone_mid_stream_is_no_error_type(collector: MetricsCollector) -> None:
    """The server dropping the body iterator after the client left is not recorded as error.type GeneratorExit."""
    app = rfs_otel.wsgi.MetricsMiddleware(_streaming_app, collector)
    body = app(_environ(), lambda *args: None)
    chunks = iter(body)
    assert next(chunks) == b"first"
    chunks.close()  # what the server's for loop does when writing to the socket fails
    _close(body)
    assert active(collector) == 0
    assert _error_types(collector) == {("GET", "unmatched", "200"): None}


def test_wsgi_middleware_applied_twice_counts_each_request_once(collector: MetricsCollector) -> None:
    """Wrapping an app that is already wrapped (same collector) does not double the counts or active requests."""
    inner = rfs_otel.wsgi.MetricsMiddleware(_streaming_app, collector)
    app = rfs_otel.wsgi.MetricsMiddleware(inner, collector)
    seen: list[float] = []
    for _ in range(3):
        body = app(_environ(), lambda *args: None)
        seen.append(active(collector))
        list(body)
        _close(body)
    assert seen == [1, 1, 1] and active(collector) == 0
    assert requests(collector)[("GET", "unmatched", "200")]["count"] == 3


def test_wsgi_random_404_paths_fold_into_one_series(collector: MetricsCollector) -> None:
    """A scanner's 200 random paths on a Flask-less WSGI app stay one series, http.route 'unmatched'."""
    app = rfs_otel.wsgi.MetricsMiddleware(_streaming_app, collector)
    client = WerkzeugClient(app)
    for _ in range(200):
        client.get(f"/{uuid.uuid4().hex}/../%2e%2e/{uuid.uuid4().hex}?q=<script>")
    assert list(requests(collector)) == [("GET", "unmatched", "200")]
    assert requests(collector)[("GET", "unmatched", "200")]["count"] == 200


def test_flask_abort_gives_its_status_and_only_a_5xx_is_an_error(collector: MetricsCollector) -> None:
    """abort(404) is a 404 with no error.type, abort(500) a 500 with error.type '500', both under the url_rule."""
    app = Flask("hostile")

    @app.get("/items/<int:item>")
    def item(item: int) -> str:
        abort(404 if item == 0 else 500)

    app.wsgi_app = rfs_otel.wsgi.MetricsMiddleware(app.wsgi_app, collector)  # type: ignore[method-assign]
    client = app.test_client()
    assert [client.get(f"/items/{n}", buffered=True).status_code for n in (0, 1)] == [404, 500]
    assert _error_types(collector) == {
        ("GET", "/items/<int:item>", "404"): None,
        ("GET", "/items/<int:item>", "500"): "500",
    }


def test_threads_give_exact_counts(collector: MetricsCollector) -> None:
    """8 threads x 250 requests through one WSGI middleware: exactly 2000 recorded, none left active."""
    app = rfs_otel.wsgi.MetricsMiddleware(_streaming_app, collector)
    barrier = threading.Barrier(8, timeout=10)

    def work() -> None:
        barrier.wait()
        for _ in range(250):
            body = app(_environ(), lambda *args: None)
            list(body)
            _close(body)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert requests(collector)[("GET", "unmatched", "200")]["count"] == 2000
    assert active(collector) == 0


# -- ASGI -------------------------------------------------------------------------------------


def _fastapi(collector: MetricsCollector) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item}")
    def item(item: int) -> dict[str, int]:
        return {"item": item}

    app.add_middleware(rfs_otel.asgi.MetricsMiddleware, collector=collector)
    return app


def test_asgi_middleware_applied_twice_counts_each_request_once(collector: MetricsCollector) -> None:
    """add_middleware plus wrapping the app again (same collector) records each request once, with its route."""
    app = rfs_otel.asgi.MetricsMiddleware(_fastapi(collector), collector)
    with TestClient(app) as client:
        for item in range(5):
            assert client.get(f"/items/{item}").status_code == 200
    assert requests(collector)[("GET", "/items/{item}", "200")]["count"] == 5
    assert active(collector) == 0


def test_asgi_lifespan_and_a_cancelled_request_leave_no_trace(collector: MetricsCollector) -> None:
    """Lifespan events are not requests; a request cancelled mid-body returns active_requests to 0."""
    started = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        started.set()
        await asyncio.sleep(30)

    middleware = rfs_otel.asgi.MetricsMiddleware(app, collector)

    async def main() -> None:
        async def send(message: dict[str, Any]) -> None:
            return None

        async def lifespan_receive() -> dict[str, Any]:
            return {"type": "lifespan.startup"}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        await middleware({"type": "lifespan"}, lifespan_receive, send)
        assert requests(collector) == {}
        scope = {"type": "http", "method": "GET", "path": "/slow", "scheme": "http", "headers": []}
        task = asyncio.create_task(middleware(scope, receive, send))
        await asyncio.wait_for(started.wait(), 5)
        assert active(collector) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert active(collector) == 0
    assert _error_types(collector) == {("GET", "unmatched", "200"): "CancelledError"}


def test_asyncio_tasks_give_exact_counts(collector: MetricsCollector) -> None:
    """500 concurrent requests interleaving at every await: exactly 500 recorded, none left active."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(0)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"x"})

    middleware = rfs_otel.asgi.MetricsMiddleware(app, collector)

    async def main() -> None:
        async def send(message: dict[str, Any]) -> None:
            return None

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        scope = {"type": "http", "method": "GET", "path": "/p", "scheme": "http", "headers": []}
        await asyncio.wait_for(asyncio.gather(*(middleware(dict(scope), receive, send) for _ in range(500))), 20)

    asyncio.run(main())
    assert requests(collector)[("GET", "unmatched", "200")]["count"] == 500
    assert active(collector) == 0


# -- Django -----------------------------------------------------------------------------------


@override_settings(ROOT_URLCONF="tests.apps.django_hostile")
def test_django_http404_and_permission_denied_are_not_server_errors(collector: MetricsCollector) -> None:
    """Http404/PermissionDenied answered as 404/403 carry no error.type, as Flask's abort() and FastAPI's don't."""
    client = DjangoClient()
    assert client.get("/items/7").status_code == 404
    assert client.get("/forbidden").status_code == 403
    assert _error_types(collector) == {
        ("GET", "/items/<int:item>", "404"): None,
        ("GET", "/forbidden", "403"): None,
    }


@override_settings(ROOT_URLCONF="tests.apps.django_hostile")
def test_django_stream_closed_unread_is_finished(collector: MetricsCollector) -> None:
    """A streaming response the server closes before reading any chunk (HEAD, client gone) is still finished."""
    environ = {
        **_environ("/stream"),
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "wsgi.input": io.BytesIO(b""),
    }
    body = WSGIHandler()(environ, lambda *args: None)
    assert active(collector) == 1
    _close(body)
    assert active(collector) == 0
    assert requests(collector)[("GET", "/stream", "200")]["count"] == 1


@override_settings(ROOT_URLCONF="tests.apps.django_hostile", MIDDLEWARE=[DJANGO_MIDDLEWARE, DJANGO_MIDDLEWARE])
def test_django_middleware_listed_twice_counts_each_request_once(collector: MetricsCollector) -> None:
    """The middleware twice in MIDDLEWARE (a settings merge gone wrong) records each request once."""
    client = DjangoClient()
    for _ in range(4):
        assert client.get("/ok").status_code == 200
    assert requests(collector)[("GET", "/ok", "200")]["count"] == 4
    assert active(collector) == 0


# -- dashboard --------------------------------------------------------------------------------


def _dashboard_client(collector: MetricsCollector) -> WerkzeugClient:
    storage = PrometheusStorage(scope_labels=False, target_info=False)
    storage.attach(collector)
    return WerkzeugClient(storage.wsgi_app())


def _strict_json(body: bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"non-standard JSON constant {constant}")

    return json.loads(body, parse_constant=refuse)


def test_the_route_table_is_bounded(collector: MetricsCollector) -> None:
    """With 500 routes the JSON API sends the 100 busiest rows and counts the rest in routes_omitted."""
    for number in range(500):
        series = collector.histogram(DURATION, [0.1, 1.0], labels={"http.route": f"/r{number}"}, unit="s")
        for _ in range(1 + number % 7):
            series.observe(0.05)
    payload = _strict_json(_dashboard_client(collector).get("/api/dashboard").data)
    assert len(payload["routes"]) == 100 and payload["routes_omitted"] == 400
    counts = [row["requests"] for row in payload["routes"]]
    assert counts == [7] * 71 + [6] * 29  # 71 routes had 7 requests, the next busiest 6


def test_hostile_window_values_are_refused_and_the_last_repeat_wins(collector: MetricsCollector) -> None:
    """?window= negative, huge, unicode or NUL-padded is a 400 naming the choices; empty is the default window;
    a repeated one uses the last."""
    client = _dashboard_client(collector)
    for value in ("-1", "1e309", "%F0%9F%92%A5", "1m%00", "nan", "1M", "%201m"):
        response = client.get(f"/api/dashboard?window={value}")
        assert response.status_code == 400, value
        assert b"one of 1m, 5m, 15m, 1h" in response.data
    response = client.get("/api/dashboard?window=")
    assert response.status_code == 200 and _strict_json(response.data)["window"]["seconds"] == 60
    response = client.get("/api/dashboard?window=1m&window=1h")
    assert response.status_code == 200 and _strict_json(response.data)["window"]["seconds"] == 3600


def test_zero_traffic_gives_strict_json_and_no_rows(collector: MetricsCollector) -> None:
    """An app with no metrics at all: strict JSON (no NaN), zero rates, no routes, no latency."""
    payload = _strict_json(_dashboard_client(collector).get("/api/dashboard").data)
    assert payload["data"]["application"] == {"requests_per_second": 0.0, "error_rate": 0.0, "response_time_p95": None}
    assert payload["routes"] == [] and payload["routes_omitted"] == 0 and payload["latency"] is None


def test_markup_in_label_values_is_data_only(collector: MetricsCollector) -> None:
    """A route named like a script tag is JSON text; the page never parses data as HTML (no innerHTML & co)."""
    hostile = "</script><script>alert('x\")</script>"
    collector.histogram(DURATION, [0.1], labels={"http.route": hostile}, unit="s").observe(0.01)
    response = _dashboard_client(collector).get("/api/dashboard")
    assert response.headers["Content-Type"] == "application/json"
    assert [row["route"] for row in _strict_json(response.data)["routes"]] == [hostile]
    script = (Path(rfs_otel.__file__).parent / "_web" / "static" / "dashboard.js").read_text()
    sinks = re.findall(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function", script)
    assert sinks == [] and "textContent" in script


# -- rules ------------------------------------------------------------------------------------


def test_rules_with_odd_label_values_pass_promtool(collector: MetricsCollector, tmp_path: Path) -> None:
    """Quotes, backslashes, newlines, unicode and template braces in label values still give valid PromQL/YAML."""
    odd = {"http.route": 'a"b\\c\nd\té\u2028{{ $x }}', "http.response.status_code": "5..|.*"}
    collector.histogram(DURATION, [0.1], labels=odd, unit="s").observe(0.01)
    rule = AlertRule('odd "rule": x', DURATION, ">", 0.5, aggregation="rate", window=10, labels=odd, by=["http.route"])
    text = to_prometheus_rules([rule], collector, group='group "with"\nnewline')
    (tmp_path / "rules.yml").write_text(text)
    result = promtool_check_rules(tmp_path / "rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rules found" in result.stdout
