"""rfs_otel.wsgi.MetricsMiddleware on Flask: OTel's HTTP semantic conventions with Flask's url_rule as http.route."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask, Response, stream_with_context
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from rfs_otel import MetricsCollector, PrometheusStorage
from rfs_otel.wsgi import MetricsMiddleware

from .http_helpers import active, requests


def _app(collector: MetricsCollector, propagate: bool = True, **options: object) -> Flask:
    app = Flask("wsgi_test")
    app.config["PROPAGATE_EXCEPTIONS"] = propagate

    @app.get("/users/<int:user_id>")
    def user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    @app.get("/boom")
    def boom() -> str:
        raise ZeroDivisionError("division by zero in /boom")

    @app.get("/inflight")
    def inflight() -> dict[str, float]:
        return {"active": active(collector)}

    @app.get("/health")
    def health() -> str:
        return "ok"

    @app.get("/stream")
    def stream() -> Response:
        def chunks() -> Iterator[bytes]:
            for _ in range(3):
                time.sleep(0.04)
                yield b"x" * 100

        return Response(stream_with_context(chunks()))

    app.wsgi_app = MetricsMiddleware(app.wsgi_app, collector, **options)  # type: ignore[method-assign,arg-type]
    return app


@pytest.fixture
def collector() -> Iterator[MetricsCollector]:
    with MetricsCollector() as collector:
        yield collector


# buffered=True: the test client then closes the response iterable, as every WSGI server does.


def test_the_url_rule_is_recorded_never_the_raw_path(collector: MetricsCollector) -> None:
    """/users/1234 and /users/5 are one series, http.route '/users/<int:user_id>'."""
    client = _app(collector).test_client()
    assert (
        client.get("/users/1234", buffered=True).status_code == 200
        and client.get("/users/5", buffered=True).status_code == 200
    )
    [(key, series)] = requests(collector).items()
    assert key == ("GET", "/users/<int:user_id>", "200") and series["count"] == 2
    assert series["labels"]["url.scheme"] == "http"


def test_unmatched_paths_fold_into_one_route(collector: MetricsCollector) -> None:
    """404s for random paths share http.route 'unmatched'."""
    client = _app(collector).test_client()
    for i in range(4):
        assert client.get(f"/random/{i}", buffered=True).status_code == 404
    assert requests(collector)[("GET", "unmatched", "404")]["count"] == 4


def test_health_checks_and_metrics_are_excluded(collector: MetricsCollector) -> None:
    """/health and /metrics (here the storage behind DispatcherMiddleware) are not measured by default."""
    app = _app(collector)
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/metrics": PrometheusStorage().wsgi_app()})  # type: ignore[method-assign]
    client = app.test_client()
    assert (
        client.get("/health", buffered=True).status_code == 200
        and client.get("/metrics", buffered=True).status_code == 200
    )
    assert requests(collector) == {}


def test_an_exception_propagates_unchanged_and_is_counted(collector: MetricsCollector) -> None:
    """With PROPAGATE_EXCEPTIONS the error reaches the caller as is and is recorded as a 500 with error.type."""
    client = _app(collector).test_client()
    with pytest.raises(ZeroDivisionError, match="division by zero in /boom"):
        client.get("/boom", buffered=True)
    [series] = requests(collector).values()
    assert series["labels"]["http.response.status_code"] == "500"
    assert series["labels"]["error.type"] == "ZeroDivisionError"
    assert active(collector) == 0


def test_a_500_that_flask_handled_names_its_status_as_error_type(collector: MetricsCollector) -> None:
    """Flask turning the error into a 500 page: recorded with route '/boom' and error.type '500'."""
    client = _app(collector, propagate=False).test_client()
    assert client.get("/boom", buffered=True).status_code == 500
    series = requests(collector)[("GET", "/boom", "500")]
    assert series["labels"]["error.type"] == "500"


def test_a_streaming_response_is_timed_to_its_last_byte(collector: MetricsCollector) -> None:
    """Three chunks 40 ms apart: the recorded duration covers all of them (>= 0.12 s)."""
    client = _app(collector).test_client()
    assert client.get("/stream", buffered=True).data == b"x" * 300
    series = requests(collector)[("GET", "/stream", "200")]
    assert series["count"] == 1 and series["sum"] >= 0.12


def test_active_requests_counts_the_request_in_flight(collector: MetricsCollector) -> None:
    """Inside the view http.server.active_requests is 1; afterwards 0."""
    client = _app(collector).test_client()
    assert client.get("/inflight", buffered=True).json == {"active": 1}
    assert active(collector) == 0


def test_body_sizes_are_recorded_when_asked_for(collector: MetricsCollector) -> None:
    """body_sizes=True adds request and response body size histograms (unit By)."""
    client = _app(collector, body_sizes=True).test_client()
    client.get("/stream", buffered=True)
    sizes = {m.name: m.value["sum"] for m in collector.snapshot() if m.name.endswith("body.size")}
    assert sizes == {"http.server.request.body.size": 0, "http.server.response.body.size": 300}
