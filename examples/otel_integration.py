"""rfs_otel inside an application's own OpenTelemetry: its readers, Views and resource get rfs_otel's metrics.

The library records first (imported before the app configures OTel); the app then sets its MeterProvider,
with a View, and its reader receives rfs_otel's metrics under the app's resource at the very next collection.
"""

from __future__ import annotations

from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from rfs_otel import PerformanceMonitored, record_counter


@PerformanceMonitored()
def handle_order() -> str:
    return "ok"


def main() -> None:
    record_counter("orders_received_total")  # before the app has configured OpenTelemetry

    reader = InMemoryMetricReader()
    view = View(instrument_name="function_duration_seconds", aggregation=ExplicitBucketHistogramAggregation([0.1, 1]))
    resource = Resource.create({"service.name": "shop"})
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader], views=[view], resource=resource))

    handle_order()
    data = reader.get_metrics_data()
    assert data is not None
    for resource_metrics in data.resource_metrics:
        print("service:", resource_metrics.resource.attributes["service.name"])
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                print(" ", metric.name, type(metric.data).__name__)
    names = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert {"orders_received_total", "function_calls_total", "function_duration_seconds"} <= names, names


if __name__ == "__main__":
    main()
