"""The default collector joins the application's OpenTelemetry; opentelemetry-instrument and the instrumentor.

The global MeterProvider can be set once per process, so each case runs in its own interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from .otlp_receivers import grpc_receiver

ROOT = Path(__file__).resolve().parent.parent
INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"

PRELUDE = """
import json
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
import rfs_otel

def names(reader):
    data = reader.get_metrics_data()
    return sorted({m.name for rm in (data.resource_metrics if data else ())
                   for sm in rm.scope_metrics for m in sm.metrics})

def app_provider():
    reader = InMemoryMetricReader()
    resource = Resource.create({"service.name": "shop"})
    return reader, MeterProvider(metric_readers=[reader], resource=resource)
"""


def _run(code: str, **env: str) -> dict[str, object]:
    """Run PRELUDE + ``code`` in a fresh interpreter; it prints one JSON object, returned here."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    script = PRELUDE + textwrap.dedent(code)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=environ)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_default_collector_joins_a_provider_set_before_it() -> None:
    """With the app's SDK provider set first, record_counter and @PerformanceMonitored reach its reader."""
    out = _run("""
        reader, provider = app_provider()
        metrics.set_meter_provider(provider)
        rfs_otel.record_counter("orders_total")
        rfs_otel.PerformanceMonitored()(lambda: None)()
        print(json.dumps({"names": names(reader)}))
    """)
    assert {"orders_total", "function_calls_total", "function_duration_seconds"} <= set(out["names"])  # type: ignore[arg-type]


def test_default_collector_joins_a_provider_set_after_it() -> None:
    """The default collector created before set_meter_provider is in the provider's very first collection."""
    out = _run("""
        rfs_otel.record_counter("orders_total", 2)
        reader, provider = app_provider()
        metrics.set_meter_provider(provider)
        data = reader.get_metrics_data()
        points = [(rm.resource.attributes["service.name"], m.name, m.data.data_points[0].value)
                  for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
        print(json.dumps({"points": points}))
    """)
    assert out["points"] == [["shop", "orders_total", 2]]


def test_explicit_collector_keeps_its_own_provider() -> None:
    """A MetricsCollector() made by the app does not feed the global provider."""
    out = _run("""
        reader, provider = app_provider()
        metrics.set_meter_provider(provider)
        with rfs_otel.MetricsCollector() as own:
            own.counter("private_total").increment()
            print(json.dumps({"names": names(reader), "own": [r.name for r in own.snapshot()]}))
    """)
    assert out == {"names": [], "own": ["private_total"]}


def test_disabled_instrumentation_variable_keeps_the_default_collector_unbound() -> None:
    """OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=rfs_otel: the default collector keeps to its own memory storage."""
    out = _run(
        """
        reader, provider = app_provider()
        metrics.set_meter_provider(provider)
        rfs_otel.record_counter("orders_total")
        print(json.dumps({"names": names(reader),
                          "own": [r.name for r in rfs_otel.get_metrics_collector().snapshot()]}))
        """,
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="flask,rfs_otel",
    )
    assert out == {"names": [], "own": ["orders_total"]}


def test_instrumentor_binds_and_unbinds_given_providers() -> None:
    """instrument(meter_provider=, tracer_provider=) binds metrics and spans; uninstrument() detaches them."""
    out = _run("""
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from rfs_otel._instrumentor import RfsOtelInstrumentor

        reader, provider = app_provider()
        spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        work = rfs_otel.PerformanceMonitored(trace=True)(lambda: None)
        instrumentor = RfsOtelInstrumentor()
        instrumentor.instrument(meter_provider=provider, tracer_provider=tracer_provider)
        work()
        bound = names(reader)
        span_names = [s.name for s in spans.get_finished_spans()]
        instrumentor.uninstrument()
        print(json.dumps({"bound": bound, "spans": span_names, "after": names(reader)}))
    """)
    assert {"function_calls_total", "function_duration_seconds"} <= set(out["bound"])  # type: ignore[arg-type]
    assert len(out["spans"]) == 1  # type: ignore[arg-type]
    assert out["after"] == []


APP = """
import rfs_otel

@rfs_otel.PerformanceMonitored()
def checkout():
    return 42

rfs_otel.record_counter("orders_total", 3)
checkout()
"""


def _instrumented(endpoint: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run APP under the real opentelemetry-instrument, exporting metrics over OTLP/gRPC to ``endpoint``."""
    app = tmp_path / "app.py"
    app.write_text(APP)
    environ = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OTEL_SERVICE_NAME": "shop",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_METRICS_INSECURE": "true",
        "OTEL_METRIC_EXPORT_INTERVAL": "60000",
        **env,
    }
    return subprocess.run(
        [str(INSTRUMENT), sys.executable, str(app)], capture_output=True, text=True, timeout=60, env=environ
    )


def _received(received: object) -> set[tuple[str, str]]:
    """(service.name, metric name) of everything a receiver got."""
    out = set()
    for request in received.requests:  # type: ignore[attr-defined]
        for rm in request.resource_metrics:
            service = next((a.value.string_value for a in rm.resource.attributes if a.key == "service.name"), "")
            out |= {(service, m.name) for sm in rm.scope_metrics for m in sm.metrics}
    return out


def test_opentelemetry_instrument_exports_rfs_otel_metrics_with_the_apps_resource(tmp_path: Path) -> None:
    """Under opentelemetry-instrument with OTEL_METRICS_EXPORTER=otlp, rfs_otel's metrics reach the receiver."""
    with grpc_receiver() as (endpoint, received):
        proc = _instrumented(endpoint, tmp_path)
        assert proc.returncode == 0, proc.stderr
        got = _received(received)
    assert {("shop", "orders_total"), ("shop", "function_calls_total"), ("shop", "function_duration_seconds")} <= got


def test_opentelemetry_instrument_with_rfs_otel_disabled_exports_none_of_them(tmp_path: Path) -> None:
    """OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=rfs_otel under opentelemetry-instrument: rfs_otel stays unbound."""
    with grpc_receiver() as (endpoint, received):
        proc = _instrumented(endpoint, tmp_path, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="rfs_otel")
        assert proc.returncode == 0, proc.stderr
        got = _received(received)
    assert not {name for _, name in got} & {"orders_total", "function_calls_total", "function_duration_seconds"}
