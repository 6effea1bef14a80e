"""MetricFilter: deny/accept names, drop/rename labels, replace and cap values, common labels."""

from __future__ import annotations

import re

import pytest
from opentelemetry.sdk.metrics.view import View

from rfs_otel import MemoryMetricsStorage, MetricFilter, MetricsCollector
from rfs_otel.testing import exported_points


def _collector(*filters: MetricFilter, **kwargs: object) -> tuple[MetricsCollector, MemoryMetricsStorage]:
    memory = MemoryMetricsStorage()
    return MetricsCollector(storage=memory, filters=filters, **kwargs), memory  # type: ignore[arg-type]


def test_denied_prefix_is_neither_exported_nor_reported() -> None:
    """deny('debug_'): series still work for the caller, but nothing reaches OTel or get_all_metrics."""
    collector, memory = _collector(MetricFilter.deny("debug_"))
    debug = collector.counter("debug_cache_probes_total")
    debug.increment(3)
    collector.counter("http_requests_total").increment()
    names = {m.name for m in collector.snapshot()}
    assert names == {"http_requests_total"}
    assert exported_points(memory.collect(), "debug_cache_probes_total") == []
    assert debug.get_value() == 3
    collector.shutdown()


def test_accept_list_with_deny_others() -> None:
    """accept('app_') then deny_others(): only app_ metrics are exported."""
    collector, _ = _collector(MetricFilter.accept("app_"), MetricFilter.deny_others())
    collector.counter("app_jobs_total").increment()
    collector.counter("lib_internal_total").increment()
    assert {m.name for m in collector.snapshot()} == {"app_jobs_total"}
    collector.shutdown()


def test_drop_and_rename_label_keys() -> None:
    """drop_labels removes a key (merging series); rename_label renames one."""
    collector, memory = _collector(MetricFilter.drop_labels("instance_id"), MetricFilter.rename_label("code", "status"))
    a = collector.counter("http_requests_total", labels={"code": "200", "instance_id": "a"})
    b = collector.counter("http_requests_total", labels={"code": "200", "instance_id": "b"})
    a.increment()
    b.increment()
    assert a is b
    [point] = exported_points(memory.collect(), "http_requests_total")
    assert (dict(point.attributes), point.value) == ({"status": "200"}, 2)
    collector.shutdown()


def test_replace_label_values_templates_paths() -> None:
    """replace_label_value maps /users/123 to /users/{id} at series creation."""
    template = MetricFilter.replace_label_value("path", lambda p: re.sub(r"/\d+", "/{id}", p))
    collector, _ = _collector(template)
    for user in range(500):
        collector.counter("http_requests_total", labels={"path": f"/users/{user}"}).increment()
    [record] = collector.snapshot()
    assert (record.labels, record.value) == ({"path": "/users/{id}"}, 500)
    collector.shutdown()


def test_cap_label_values_folds_the_rest_into_other() -> None:
    """cap_label_values('tenant', 3): the 4th and later tenants count under tenant='other'."""
    collector, _ = _collector(MetricFilter.cap_label_values("tenant", 3))
    for tenant in range(10):
        collector.counter("jobs_total", labels={"tenant": f"t{tenant}"}).increment()
    values = {m.labels["tenant"]: m.value for m in collector.snapshot()}
    assert values == {"t0": 1, "t1": 1, "t2": 1, "other": 7}
    collector.shutdown()


def test_common_labels_on_every_series() -> None:
    """common_labels adds labels everywhere; a series' own value wins."""
    collector, _ = _collector(MetricFilter.common_labels({"region": "eu", "env": "prod"}))
    collector.counter("a_total").increment()
    collector.gauge("b", labels={"env": "staging"}).set(1)
    labels = {m.name: m.labels for m in collector.snapshot()}
    assert labels == {"a_total": {"env": "prod", "region": "eu"}, "b": {"env": "staging", "region": "eu"}}
    collector.shutdown()


def test_filters_run_at_creation_not_per_call() -> None:
    """A relabel function runs once per new label set, never on increment."""
    calls: list[str] = []

    def replace(value: str) -> str:
        calls.append(value)
        return value.upper()

    collector, _ = _collector(MetricFilter.replace_label_value("method", replace))
    counter = collector.counter("http_requests_total", labels={"method": "get"})
    for _ in range(1000):
        counter.increment()
    assert calls == ["get"]
    assert counter.labels == {"method": "GET"}
    collector.shutdown()


def test_user_views_keep_working_with_filters() -> None:
    """An OTel View renaming a metric still applies on top of the filters."""
    memory = MemoryMetricsStorage()
    view = View(instrument_name="http_requests_total", name="requests")
    with MetricsCollector(storage=memory, views=[view], filters=[MetricFilter.common_labels({"env": "prod"})]) as c:
        c.counter("http_requests_total").increment()
        [point] = exported_points(memory.collect(), "requests")
    assert dict(point.attributes) == {"env": "prod"}


def test_bad_filter_output_is_refused_clearly() -> None:
    """A replace function returning a non-str raises InvalidLabelError naming it."""
    collector, _ = _collector(MetricFilter.replace_label_value("path", lambda p: None))  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="returned None"):
        collector.counter("x_total", labels={"path": "/a"})
    collector.shutdown()


def test_filters_must_be_metric_filters() -> None:
    """Anything else in filters= is a TypeError naming it."""
    with pytest.raises(TypeError, match="'deny'"):
        MetricsCollector(filters=["deny"])  # type: ignore[list-item]
