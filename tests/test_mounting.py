"""The WSGI and ASGI apps work under any prefix: Flask's DispatcherMiddleware and Starlette/FastAPI Mount."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources

import pytest
from fastapi import FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.routing import Mount

with warnings.catch_warnings():  # Starlette >= 1.0 prefers httpx2 but works with httpx
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from rfs_otel import MetricsCollector, PrometheusStorage


@dataclass
class Reply:
    """What a client saw: status, content type, Location and body."""

    status: int
    content_type: str
    location: str
    body: bytes


Get = Callable[..., Reply]


def _flask(storage: PrometheusStorage, prefix: str) -> Get:
    app = Flask("mounted")
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {prefix: storage.wsgi_app()})  # type: ignore[method-assign]
    client = app.test_client()

    def get(path: str, accept: str = "*/*") -> Reply:
        r = client.get(path, headers={"Accept": accept})
        return Reply(r.status_code, r.content_type or "", r.headers.get("Location", ""), r.data)

    return get


def _asgi(app: object) -> Get:
    client = TestClient(app, follow_redirects=False)  # type: ignore[arg-type]

    def get(path: str, accept: str = "*/*") -> Reply:
        r = client.get(path, headers={"Accept": accept})
        return Reply(r.status_code, r.headers.get("content-type", ""), r.headers.get("location", ""), r.content)

    return get


def _starlette(storage: PrometheusStorage, prefix: str) -> Get:
    return _asgi(Starlette(routes=[Mount(prefix, app=storage.asgi_app())]))


def _fastapi(storage: PrometheusStorage, prefix: str) -> Get:
    app = FastAPI()
    app.mount(prefix, storage.asgi_app())
    return _asgi(app)


FRAMEWORKS = [
    pytest.param(_flask, id="flask"),
    pytest.param(_starlette, id="starlette"),
    pytest.param(_fastapi, id="fastapi"),
]


@contextmanager
def _mounted(mount: Callable[[PrometheusStorage, str], Get], prefix: str, dashboard: bool) -> Iterator[Get]:
    storage = PrometheusStorage(dashboard=dashboard, scope_labels=False, target_info=False)
    with MetricsCollector(storage=storage) as collector:
        collector.counter("mounted_hits_total").increment(3)
        yield mount(storage, prefix)


def _is_metrics(reply: Reply) -> bool:
    return (
        reply.status == 200
        and reply.content_type.startswith(("text/plain", "application/openmetrics-text"))
        and b"mounted_hits_total 3.0" in reply.body
    )


@pytest.mark.parametrize("mount", FRAMEWORKS)
def test_mounted_at_monitoring_everything_answers_below_the_prefix(mount: Callable[..., Get]) -> None:
    """Under /monitoring: the page at /monitoring/, the scrape at /monitoring/metrics, the JSON API, the assets."""
    with _mounted(mount, "/monitoring", dashboard=True) as get:
        page = get("/monitoring/", accept="text/html")
        assert page.status == 200 and page.content_type.startswith("text/html") and b"<html" in page.body
        assert _is_metrics(get("/monitoring/metrics"))
        api = get("/monitoring/api/dashboard")
        assert api.status == 200 and api.content_type == "application/json" and b'"series"' in api.body
        assert get("/monitoring/static/dashboard.js").status == 200
        assert get("/monitoring/nope").status == 404


@pytest.mark.parametrize("mount", FRAMEWORKS)
def test_the_bare_mount_point_redirects_to_its_slash(mount: Callable[..., Get]) -> None:
    """GET /monitoring redirects (308) to a relative 'monitoring/', so the page's relative URLs resolve."""
    with _mounted(mount, "/monitoring", dashboard=True) as get:
        reply = get("/monitoring")
        assert reply.status in (307, 308) and reply.location.rstrip("/").endswith("monitoring")


@pytest.mark.parametrize("mount", FRAMEWORKS)
def test_mounted_at_metrics_the_scrape_and_the_dashboard_api_both_answer(mount: Callable[..., Get]) -> None:
    """Under /metrics: /metrics(/) is the exposition, the page to a browser, and /metrics/api/dashboard its JSON."""
    with _mounted(mount, "/metrics", dashboard=True) as get:
        scrape = get("/metrics", accept="application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
        assert _is_metrics(scrape if scrape.status == 200 else get("/metrics/"))  # Starlette redirects to the slash
        assert _is_metrics(get("/metrics/"))
        assert get("/metrics/", accept="text/html,application/xhtml+xml,*/*;q=0.8").content_type.startswith("text/html")
        api = get("/metrics/api/dashboard")
        assert api.status == 200 and api.content_type == "application/json"


@pytest.mark.parametrize("prefix", ["/metrics", "/monitoring"])
@pytest.mark.parametrize("mount", FRAMEWORKS)
def test_dashboard_false_serves_no_html_on_any_path(mount: Callable[..., Get], prefix: str) -> None:
    """dashboard=False: the mount point and /metrics below it answer the scrape; no HTML anywhere, the API is 404."""
    with _mounted(mount, prefix, dashboard=False) as get:
        bare = get(prefix)
        assert _is_metrics(bare) or bare.status == 307  # Starlette redirects the bare mount point to its slash
        assert _is_metrics(get(prefix + "/"))
        assert _is_metrics(get(prefix + "/metrics"))
        for path in ("/", "/static/dashboard.js", "/static/dashboard.css", "/api/dashboard", "/index.html"):
            reply = get(prefix + path, accept="text/html")
            assert not reply.content_type.startswith(("text/html", "text/javascript")), (path, reply)
            assert reply.status in (200, 404) and b"<html" not in reply.body, (path, reply)
        assert get(prefix + "/api/dashboard").status == 404


def test_the_page_uses_relative_urls_only() -> None:
    """The dashboard's HTML and script name their assets and API relatively, so any prefix works."""
    static = resources.files("rfs_otel._web").joinpath("static")
    html = static.joinpath("dashboard.html").read_text()
    script = static.joinpath("dashboard.js").read_text()
    assert 'href="static/dashboard.css"' in html and 'src="static/dashboard.js"' in html
    assert 'fetch("api/dashboard"' in script
    assert '"/' not in html.replace("</", "") and 'fetch("/' not in script
