"""Per-library instrumentation scopes: ``collector.meter(name, version, schema_url)``."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import MetricsData
from opentelemetry.sdk.metrics.view import View

from rfs_otel import MemoryMetricsStorage, MetricConflictError, MetricError, MetricsCollector, PrometheusStorage
from rfs_otel.testing import exported_points

from .otlp_receivers import grpc_receiver
from .servers import promtool_check_metrics

SCHEMA = "https://opentelemetry.io/schemas/1.26.0"


def _scopes(data: MetricsData | None) -> dict[str, Any]:
    """Metric name -> the instrumentation scope it was exported under."""
    assert data is not None
    return {m.name: sm.scope for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def test_meter_metrics_carry_its_scope_name_version_and_schema_url() -> None:
    """A meter's metrics are exported under its scope; the collector's own stay under rfs_otel's."""
    storage = MemoryMetricsStorage()
    with MetricsCollector(storage=storage) as collector:
        payments = collector.meter("payments", "1.2", schema_url=SCHEMA)
        payments.counter("payments_total").increment()
        collector.counter("jobs_total").increment()
        scopes = _scopes(storage.collect())
        assert (scopes["payments_total"].name, scopes["payments_total"].version) == ("payments", "1.2")
        assert scopes["payments_total"].schema_url == SCHEMA
        assert scopes["jobs_total"].name == "rfs_otel"


def test_meter_has_every_instrument_factory() -> None:
    """counter, gauge, histogram (either aggregation), summary and timer all record under the meter's scope."""
    storage = MemoryMetricsStorage()
    with MetricsCollector(storage=storage) as collector:
        meter = collector.meter("shop")
        meter.counter("orders_total").increment(2)
        meter.gauge("carts").set(3)
        meter.histogram("pay_seconds", buckets=[1.0]).observe(0.5)
        meter.histogram("ship_seconds", aggregation="exponential").observe(0.5)
        meter.summary("pick_seconds").observe(0.1)
        with meter.timer("pack_seconds"):
            pass
        data = storage.collect()
        names = {"orders_total", "carts", "pay_seconds", "ship_seconds", "pick_seconds", "pack_seconds"}
        assert {n for n, s in _scopes(data).items() if s.name == "shop"} >= names
        assert exported_points(data, "orders_total")[0].value == 2


def test_otlp_receiver_gets_the_scope() -> None:
    """The OTLP protobuf carries the meter's scope name and version."""
    from rfs_otel import OTLPStorage

    with grpc_receiver() as (endpoint, received):
        storage = OTLPStorage(endpoint=endpoint, protocol="grpc", insecure=True, timeout=5)
        with MetricsCollector(storage=storage) as collector:
            collector.meter("payments", "1.2").counter("refunds_total").increment()
            assert collector.collect_and_store_sync().is_success()
            found = [
                (sm.scope.name, sm.scope.version)
                for rm in received.requests[-1].resource_metrics
                for sm in rm.scope_metrics
                if any(m.name == "refunds_total" for m in sm.metrics)
            ]
            assert found == [("payments", "1.2")]


def test_prometheus_renders_otel_scope_labels_and_promtool_accepts_it() -> None:
    """The scrape labels a meter's series otel_scope_name/otel_scope_version, as OTel's exporter does."""
    storage = PrometheusStorage(port=0)
    with MetricsCollector(storage=storage) as collector:
        collector.meter("payments", "1.2").counter("charges_total", "Charges").increment()
        collector.counter("jobs_total", "Jobs").increment()
        text = storage.exposition()
        assert promtool_check_metrics(text).returncode == 0
        [line] = [x for x in text.decode().splitlines() if x.startswith("charges_total{")]
        assert 'otel_scope_name="payments"' in line and 'otel_scope_version="1.2"' in line


def test_a_name_belongs_to_one_scope_another_scope_is_refused() -> None:
    """Metric names stay unique per collector: the same name from another scope is a MetricConflictError."""
    with MetricsCollector(storage=[]) as collector:
        collector.meter("payments").counter("shared_total").increment()
        with pytest.raises(MetricConflictError, match="payments"):
            collector.meter("billing").counter("shared_total")
        with pytest.raises(MetricConflictError, match="payments"):
            collector.counter("shared_total")


def test_the_same_scope_asked_again_reuses_its_series() -> None:
    """Two meter objects of one scope share the metric (the library may call meter() more than once)."""
    with MetricsCollector(storage=[]) as collector:
        first = collector.meter("payments", "1.2").counter("paid_total")
        assert collector.meter("payments", "1.2").counter("paid_total") is first


def test_a_view_selecting_by_meter_name_applies() -> None:
    """Views may select a meter's instruments by meter_name (here: renamed)."""
    view = View(meter_name="payments", name="renamed_total")
    storage = MemoryMetricsStorage()
    with MetricsCollector(storage=storage, views=[view]) as collector:
        collector.meter("payments").counter("paid_total").increment()
        collector.counter("other_total").increment()
        data = storage.collect()
        assert exported_points(data, "renamed_total")[0].value == 1
        assert exported_points(data, "other_total")[0].value == 1


@pytest.mark.parametrize(("args", "words"), [(("",), "non-empty"), (("x", 1.2), "version must be a str")])
def test_bad_scope_is_a_named_error(args: tuple[Any, ...], words: str) -> None:
    """An empty meter name or a non-text version is refused, naming the value."""
    with MetricsCollector(storage=[]) as collector, pytest.raises(MetricError, match=words):
        collector.meter(*args)
