"""rfs_otel.django: the middleware records OTel's HTTP metrics with the resolver's route; the storage mounts."""

from __future__ import annotations

import pytest
from django.conf import settings

from .apps.django_settings import configure

if not settings.configured:  # the shared test settings, whichever test module runs first
    configure()

from django.test import Client

from rfs_otel import MetricsCollector

from .apps import django_site
from .http_helpers import active, requests


@pytest.fixture
def collector(default_collector: MetricsCollector) -> MetricsCollector:
    return default_collector  # the middleware records into the default collector


def test_the_resolver_route_is_recorded_never_the_raw_path(collector: MetricsCollector) -> None:
    """/users/1234 and /users/5 are one series, http.route '/users/<int:user_id>'."""
    client = Client()
    assert client.get("/users/1234").status_code == 200 and client.get("/users/5").status_code == 200
    assert requests(collector)[("GET", "/users/<int:user_id>", "200")]["count"] == 2


def test_unmatched_paths_fold_into_one_route(collector: MetricsCollector) -> None:
    """404s for random paths share http.route 'unmatched'."""
    client = Client()
    for i in range(3):
        assert client.get(f"/random/{i}").status_code == 404
    assert requests(collector)[("GET", "unmatched", "404")]["count"] == 3


def test_a_view_exception_propagates_and_is_counted(collector: MetricsCollector) -> None:
    """The test client re-raises the view's ZeroDivisionError; it is recorded as a 500 with error.type."""
    with pytest.raises(ZeroDivisionError, match="division by zero in /boom"):
        Client().get("/boom")
    series = requests(collector)[("GET", "/boom", "500")]
    assert series["labels"]["error.type"] == "ZeroDivisionError" and active(collector) == 0


def test_a_streaming_response_is_timed_to_its_last_chunk(collector: MetricsCollector) -> None:
    """Three chunks 40 ms apart: the duration covers all of them."""
    response = Client().get("/stream")
    assert b"".join(response.streaming_content) == b"x" * 300  # type: ignore[attr-defined]
    response.close()
    series = requests(collector)[("GET", "/stream", "200")]
    assert series["count"] == 1 and series["sum"] >= 0.12


def test_the_storage_works_under_a_url_prefix(collector: MetricsCollector) -> None:
    """Included at 'monitoring/': page, scrape and JSON API below it; at 'metrics' with dashboard=False: no HTML."""
    with MetricsCollector(storage=[django_site.monitoring, django_site.scrape_only]) as own:
        own.counter("django_hits_total").increment()
        client = Client()
        page = client.get("/monitoring/", HTTP_ACCEPT="text/html")
        assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
        assert b"django_hits_total 1.0" in client.get("/monitoring/metrics").content
        assert client.get("/monitoring/api/dashboard")["Content-Type"] == "application/json"
        scrape = client.get("/metrics")
        assert scrape.status_code == 200 and b"django_hits_total 1.0" in scrape.content
        html = client.get("/metrics/", HTTP_ACCEPT="text/html")
        assert not html["Content-Type"].startswith("text/html") and b"<html" not in html.content
        assert client.get("/metrics/api/dashboard").status_code == 404
    # /metrics is excluded by default; the mount at /monitoring is measured under its template
    assert set(requests(collector)) == {("GET", "/monitoring/<path:rest>", "200"), ("GET", "/monitoring/", "200")}
