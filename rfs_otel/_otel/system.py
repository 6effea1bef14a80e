"""OTel's system-metrics instrumentation (extra ``system``): process-wide, so one provider at a time."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.sdk.metrics import MeterProvider

from .._util.optional import require

__all__ = ["disable_system_metrics", "enable_system_metrics"]

_MODULE = "opentelemetry.instrumentation.system_metrics"


def enable_system_metrics(
    provider: MeterProvider, config: Mapping[str, list[str] | None] | None, enabled_here: bool
) -> None:
    """Instrument CPU, memory, disk, network, threads and descriptors into ``provider``.

    ``enabled_here`` says the caller already enabled it (a no-op then); enabled by anyone else raises.
    """
    instrumentor = require(_MODULE, "system").SystemMetricsInstrumentor(config=dict(config) if config else None)
    if instrumentor.is_instrumented_by_opentelemetry:
        if enabled_here:
            return
        raise RuntimeError("system metrics are already enabled on another collector (they are process-wide)")
    instrumentor.instrument(meter_provider=provider)


def disable_system_metrics() -> None:
    """Stop the process-wide system-metrics instrumentation."""
    require(_MODULE, "system").SystemMetricsInstrumentor().uninstrument()
