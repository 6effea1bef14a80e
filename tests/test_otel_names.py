"""OTel instrument names and dotted attribute keys: accepted, rendered as the exporter does, collisions refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.prometheus import _mapping

from rfs_otel import InvalidLabelError, InvalidMetricNameError, MetricConflictError, MetricsCollector, PrometheusStorage
from rfs_otel._model.validation import prometheus_label

from .servers import promtool_check_metrics


def test_semantic_convention_names_and_keys_render_as_the_exporter_does() -> None:
    """http.server.request.duration (unit s) with http.request.method is exposed as the OTel exporter writes it."""
    storage = PrometheusStorage()
    with MetricsCollector(storage=storage) as collector:
        labels = {"http.request.method": "GET", "url.scheme": "http", "http.route": "/users/{id}"}
        collector.histogram("http.server.request.duration", unit="s", labels=labels).observe(0.02)
        page = storage.exposition().decode()
        [metric] = collector.snapshot()
    assert "http_server_request_duration_seconds_count{" in page
    assert 'http_request_method="GET"' in page and 'http_route="/users/{id}"' in page
    assert (metric.name, metric.labels) == ("http.server.request.duration", labels)
    check = promtool_check_metrics(storage.exposition())
    assert check.returncode in (0, 3), check.stdout + check.stderr


@pytest.mark.parametrize("name", ["a.b", "a-b", "a/b", "http.server.active_requests", "a" + "." * 254])
def test_otel_name_syntax_is_accepted(name: str) -> None:
    """Letters, digits, '_', '.', '-', '/' after a leading letter, up to 255 characters."""
    with MetricsCollector() as collector:
        collector.gauge(name).set(1)
        assert [m.name for m in collector.snapshot()] == [name]


@pytest.mark.parametrize("name", [".a", "-a", "/a", "a:b", "a b", "a" * 256])
def test_names_outside_the_otel_syntax_are_refused(name: str) -> None:
    """A leading non-letter, ':' or a space, or 256 characters: InvalidMetricNameError naming the name."""
    with MetricsCollector() as collector, pytest.raises(InvalidMetricNameError, match="gauge name"):
        collector.gauge(name)


@pytest.mark.parametrize(
    ("first", "second"),
    [("http.requests", "http_requests"), ("a-b", "a/b"), ("a.b_total", "a_b"), ("jobs.seconds", "jobs")],
)
def test_names_equal_after_rendering_are_refused(first: str, second: str) -> None:
    """Two names the exporter renders alike are refused at creation, naming both."""
    with MetricsCollector() as collector:
        collector.counter(first, unit="s" if second == "jobs" else "")
        with pytest.raises(MetricConflictError, match=f"'{second}'.*'{first}'"):
            collector.counter(second, unit="s" if second == "jobs" else "")


def test_dotted_label_keys_equal_after_rendering_are_refused() -> None:
    """'http.method' and 'http_method' on one series would be one Prometheus label: refused naming both."""
    with (
        MetricsCollector() as collector,
        pytest.raises(InvalidLabelError, match=r"'http\.method' and 'http_method' are both exported"),
    ):
        collector.counter("hits", labels={"http.method": "GET", "http_method": "GET"})


def test_a_dotted_key_rendering_to_a_reserved_label_is_refused() -> None:
    """'l.e' is fine, but a key the exporter renders as 'le' on a histogram is not ('le' itself)."""
    with MetricsCollector() as collector:
        collector.histogram("h", labels={"l.e": "x"}).observe(1)
        with pytest.raises(InvalidLabelError, match="'le' is reserved"):
            collector.histogram("h", labels={"le": "x"})


@settings(max_examples=200, deadline=None)
@given(key=st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_.]{0,20}", fullmatch=True))
def test_label_rendering_matches_the_real_exporter(key: str) -> None:
    """rfs_otel's label-name rendering agrees with the installed exporter's sanitize_attribute."""
    assert prometheus_label(key) == _mapping.sanitize_attribute(key)
