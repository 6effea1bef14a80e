"""Web leftovers: Flask's failing route keeps its url_rule, Django's middleware runs async, rules use label keys."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings

from .apps.django_settings import configure

if not settings.configured:  # the shared test settings, whichever test module runs first
    configure()

from asgiref.sync import SyncToAsync, iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, override_settings
from flask import Flask

from rfs_otel import AlertManager, AlertRule, MetricsCollector, to_prometheus_rules
from rfs_otel.django import MetricsMiddleware as DjangoMiddleware
from rfs_otel.wsgi import MetricsMiddleware as WsgiMiddleware

from .http_helpers import active, requests
from .servers import promtool_check_rules

ASYNC_SITE = "tests.apps.django_async_site"


@pytest.fixture
def collector(default_collector: MetricsCollector) -> MetricsCollector:
    return default_collector  # the middleware records into the default collector


@pytest.fixture
def async_site() -> Iterator[None]:
    """The async views' URLconf for the duration of one test; asgiref's worker thread does not outlive it.

    Django runs the async chain's sync parts on asgiref's one-thread executor, whose thread would otherwise stay
    idle for the rest of the session and make every later test that forks warn about forking a threaded process.
    """
    with override_settings(ROOT_URLCONF=ASYNC_SITE):
        yield
    used, SyncToAsync.single_thread_executor = SyncToAsync.single_thread_executor, ThreadPoolExecutor(max_workers=1)
    used.shutdown(wait=True)


def _flask(collector: MetricsCollector) -> Flask:
    app = Flask("leftovers")
    app.config["PROPAGATE_EXCEPTIONS"] = True

    @app.get("/orders/<int:order_id>/cancel")
    def cancel(order_id: int) -> str:
        raise PermissionError(f"order {order_id} is shipped")

    app.wsgi_app = WsgiMiddleware(app.wsgi_app, collector)  # type: ignore[method-assign]
    return app


def test_flask_propagated_exception_keeps_the_url_rule(collector: MetricsCollector) -> None:
    """PROPAGATE_EXCEPTIONS: the error reaches the caller and is recorded under its url_rule, not 'unmatched'."""
    client = _flask(collector).test_client()
    with pytest.raises(PermissionError, match="order 7 is shipped"):
        client.get("/orders/7/cancel", buffered=True)
    series = requests(collector)[("GET", "/orders/<int:order_id>/cancel", "500")]
    assert series["count"] == 1 and series["labels"]["error.type"] == "PermissionError"


def test_django_middleware_is_a_coroutine_for_an_async_chain() -> None:
    """Given an async get_response Django sees a coroutine function; given a sync one, a plain callable."""

    async def async_view(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    def sync_view(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    assert DjangoMiddleware.async_capable and DjangoMiddleware.sync_capable
    assert iscoroutinefunction(DjangoMiddleware(async_view))
    assert not iscoroutinefunction(DjangoMiddleware(sync_view))


def test_django_async_views_are_recorded_with_their_route(collector: MetricsCollector, async_site: None) -> None:
    """Through Django's async handler: /orders/3 and /orders/4 are one series '/orders/<int:order_id>'."""

    async def run() -> list[int]:
        client = AsyncClient()
        return [(await client.get(f"/orders/{i}")).status_code for i in (3, 4)]

    assert asyncio.run(run()) == [200, 200]
    assert requests(collector)[("GET", "/orders/<int:order_id>", "200")]["count"] == 2
    assert active(collector) == 0


def test_django_async_exception_propagates_and_is_counted(collector: MetricsCollector, async_site: None) -> None:
    """An async view's LookupError reaches the async test client and is a 500 with error.type."""

    async def run() -> None:
        await AsyncClient().get("/fail")

    with pytest.raises(LookupError, match="no such order in /fail"):
        asyncio.run(run())
    series = requests(collector)[("GET", "/fail", "500")]
    assert series["labels"]["error.type"] == "LookupError" and active(collector) == 0


def test_django_async_stream_is_timed_to_its_last_chunk(collector: MetricsCollector, async_site: None) -> None:
    """Three async chunks 40 ms apart: recorded once, after the last one, with the whole duration."""

    async def run() -> bytes:
        response = await AsyncClient().get("/stream")
        return b"".join([chunk async for chunk in response.streaming_content])

    assert asyncio.run(run()) == b"y" * 30
    series = requests(collector)[("GET", "/stream", "200")]
    assert series["count"] == 1 and series["sum"] >= 0.12


def _error_rule() -> AlertRule:
    return AlertRule(
        "checkout_errors",
        "http.server.request.duration",
        ">",
        0.5,
        aggregation="rate",
        window=10,
        labels={"http.route": "/checkout", "http.response.status_code": "500"},
        by=["http.route"],
    )


def test_prometheus_rules_use_the_exported_label_keys(collector: MetricsCollector, tmp_path: Path) -> None:
    """Dotted OTel keys become the exporter's names (http_route); a histogram's rate reads its _count: promtool OK."""
    collector.histogram("http.server.request.duration", [0.1], unit="s").observe(0.01)
    text = to_prometheus_rules([_error_rule()], collector)
    selector = (
        'http_server_request_duration_seconds_count{http_response_status_code=\\"500\\",http_route=\\"/checkout\\"}'
    )
    assert f'"sum by (http_route) (rate({selector}[10s])) > 0.5"' in text
    (tmp_path / "rules.yml").write_text(text)
    result = promtool_check_rules(tmp_path / "rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_same_rule_in_process_rates_a_histograms_observations(collector: MetricsCollector) -> None:
    """In-process the rule reads the histogram's observation count too: 30 errors in 5 s are 6/s and fire it."""
    labels = {"http.route": "/checkout", "http.response.status_code": "500"}
    errors = collector.histogram("http.server.request.duration", [0.1], labels=labels, unit="s")
    now = [1000.0]
    manager = AlertManager(collector, [_error_rule()], clock=lambda: now[0])
    errors.observe(0.01)
    assert manager.evaluate_once() == []
    for _ in range(30):
        errors.observe(0.01)
    now[0] += 5.0
    [alert] = manager.evaluate_once()
    assert alert.name == "checkout_errors" and alert.value == pytest.approx(6.0)
