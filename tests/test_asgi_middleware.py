"""rfs_otel.asgi.MetricsMiddleware on Starlette and FastAPI: OTel's HTTP semantic conventions, route templates."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI
from starlette.responses import StreamingResponse

from rfs_otel import MetricsCollector, PrometheusStorage
from rfs_otel.asgi import MetricsMiddleware

from .http_helpers import active, requests

with warnings.catch_warnings():  # Starlette >= 1.0 prefers httpx2 but works with httpx
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

SEMCONV_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]


def _app(collector: MetricsCollector, **options: object) -> FastAPI:
    app = FastAPI()
    sub = FastAPI()

    @app.get("/users/{user_id}")
    def user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    @app.get("/boom")
    def boom() -> None:
        raise ZeroDivisionError("division by zero in /boom")

    @app.get("/inflight")
    def inflight() -> dict[str, float]:
        return {"active": active(collector)}

    @app.get("/health")
    def health() -> str:
        return "ok"

    @app.get("/stream")
    def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(3):
                await asyncio.sleep(0.04)
                yield b"x" * 100

        return StreamingResponse(chunks())

    @sub.get("/items/{item_id}")
    def item(item_id: str) -> str:
        return item_id

    app.mount("/api", sub)
    app.add_middleware(MetricsMiddleware, collector=collector, **options)
    return app


@pytest.fixture
def collector() -> Iterator[MetricsCollector]:
    with MetricsCollector() as collector:
        yield collector


@pytest.fixture
def client(collector: MetricsCollector) -> TestClient:
    return TestClient(_app(collector))


def test_the_route_template_is_recorded_never_the_raw_path(collector: MetricsCollector, client: TestClient) -> None:
    """/users/1234 and /users/5 are one series, http.route '/users/{user_id}', with OTel's attributes."""
    assert client.get("/users/1234").status_code == 200
    assert client.get("/users/5").status_code == 200
    [(key, series)] = requests(collector).items()
    assert key == ("GET", "/users/{user_id}", "200") and series["count"] == 2
    assert series["labels"]["url.scheme"] == "http" and "error.type" not in series["labels"]


def test_duration_uses_the_semconv_buckets_in_seconds(collector: MetricsCollector, client: TestClient) -> None:
    """http.server.request.duration has unit 's' and the semantic conventions' bucket boundaries."""
    client.get("/users/1")
    [metric] = [m for m in collector.snapshot() if m.name == "http.server.request.duration"]
    assert metric.unit == "s"
    assert [b for b in metric.value["buckets"] if b != float("inf")] == SEMCONV_BOUNDS


def test_unmatched_paths_fold_into_one_route(collector: MetricsCollector, client: TestClient) -> None:
    """Any number of 404s for random paths are one series with http.route 'unmatched'."""
    for i in range(5):
        assert client.get(f"/random/{i}").status_code == 404
    assert requests(collector)[("GET", "unmatched", "404")]["count"] == 5


def test_mounted_sub_apps_add_their_prefix(collector: MetricsCollector, client: TestClient) -> None:
    """A route of a FastAPI app mounted at /api is recorded as '/api/items/{item_id}'."""
    client.get("/api/items/abc")
    assert ("GET", "/api/items/{item_id}", "200") in requests(collector)


def test_the_metrics_endpoint_and_health_checks_are_excluded(collector: MetricsCollector) -> None:
    """/health and a storage mounted at /metrics are not measured by default; excluded_paths changes that."""
    storage = PrometheusStorage()
    app = _app(collector)
    app.mount("/metrics", storage.asgi_app())
    client = TestClient(app)
    assert client.get("/health").status_code == 200 and client.get("/metrics").status_code == 200
    assert requests(collector) == {}
    measured = TestClient(_app(collector, excluded_paths=["/users"]))
    measured.get("/health")
    measured.get("/users/1")
    assert list(requests(collector)) == [("GET", "/health", "200")]


def test_an_exception_propagates_unchanged_and_is_counted(collector: MetricsCollector) -> None:
    """The endpoint's ZeroDivisionError reaches the caller as is; it is recorded as a 500 with error.type."""
    client = TestClient(_app(collector), raise_server_exceptions=True)
    with pytest.raises(ZeroDivisionError, match="division by zero in /boom"):
        client.get("/boom")
    series = requests(collector)[("GET", "/boom", "500")]
    assert series["count"] == 1 and series["labels"]["error.type"] == "ZeroDivisionError"
    assert active(collector) == 0


def test_a_streaming_response_is_timed_to_its_last_byte(collector: MetricsCollector, client: TestClient) -> None:
    """Three chunks 40 ms apart: the recorded duration covers all of them (>= 0.12 s)."""
    assert client.get("/stream").content == b"x" * 300
    series = requests(collector)[("GET", "/stream", "200")]
    assert series["count"] == 1 and series["sum"] >= 0.12


def test_active_requests_counts_the_request_in_flight(collector: MetricsCollector, client: TestClient) -> None:
    """Inside the handler http.server.active_requests is 1; afterwards 0."""
    assert client.get("/inflight").json() == {"active": 1}
    assert active(collector) == 0


def test_body_sizes_are_recorded_when_asked_for(collector: MetricsCollector) -> None:
    """body_sizes=True adds request and response body size histograms (unit By)."""
    client = TestClient(_app(collector, body_sizes=True))
    client.get("/stream")
    sizes = {m.name: (m.unit, m.value["sum"]) for m in collector.snapshot() if m.name.endswith("body.size")}
    assert sizes == {"http.server.request.body.size": ("By", 0), "http.server.response.body.size": ("By", 300)}


def test_unknown_methods_fold_into_other(collector: MetricsCollector, client: TestClient) -> None:
    """A made-up method is recorded as '_OTHER', so methods cannot grow cardinality."""
    client.request("BREW", "/users/1")
    assert [key[0] for key in requests(collector)] == ["_OTHER"]


def test_the_prometheus_page_shows_the_exporters_names(collector: MetricsCollector) -> None:
    """On /metrics the histogram is http_server_request_duration_seconds with http_route and friends."""
    storage = PrometheusStorage(scope_labels=False, target_info=False)
    with MetricsCollector(storage=storage) as own:
        TestClient(_app(own)).get("/users/7")
        page = storage.exposition().decode()
    assert (
        'http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",'
        'http_route="/users/{user_id}",url_scheme="http"} 1.0'
    ) in page
    assert 'http_server_active_requests{http_request_method="GET",url_scheme="http"} 0.0' in page
