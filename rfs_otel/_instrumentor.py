"""``RfsOtelInstrumentor``: binds rfs_otel to the application's OpenTelemetry (``opentelemetry-instrument`` runs it).

``instrument(meter_provider=..., tracer_provider=...)`` joins the default collector to that MeterProvider (to the
global one, followed as it changes, when none is given), sends the decorators' spans to that TracerProvider and
turns recording on; ``uninstrument()`` detaches both and turns the recording of ``@PerformanceMonitored`` off.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ._util.optional import require

_instrumentor = require("opentelemetry.instrumentation.instrumentor", "instrumentation")

from ._decorators import set_default_tracer_provider, set_recording_enabled  # noqa: E402
from ._default import bind_default_collector  # noqa: E402

__all__ = ["RfsOtelInstrumentor"]


class RfsOtelInstrumentor(_instrumentor.BaseInstrumentor):  # type: ignore[misc, name-defined]
    """The OTel instrumentor for rfs_otel (entry point ``opentelemetry_instrumentor: rfs_otel``)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        meter_provider = kwargs.get("meter_provider")
        bind_default_collector(meter_provider, follow=meter_provider is None)
        set_default_tracer_provider(kwargs.get("tracer_provider"))
        set_recording_enabled(True)

    def _uninstrument(self, **kwargs: Any) -> None:
        bind_default_collector(None)
        set_default_tracer_provider(None)
        set_recording_enabled(False)
