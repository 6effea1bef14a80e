"""``RfsOtelInstrumentor``: lets ``opentelemetry-instrument`` and ``instrument()``/``uninstrument()``
switch the recording of every ``@PerformanceMonitored`` function on and off."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ._util.optional import require

_instrumentor = require("opentelemetry.instrumentation.instrumentor", "instrumentation")

from ._decorators import set_recording_enabled  # noqa: E402

__all__ = ["RfsOtelInstrumentor"]


class RfsOtelInstrumentor(_instrumentor.BaseInstrumentor):  # type: ignore[misc, name-defined]
    """The OTel instrumentor for rfs_otel's decorators (entry point ``opentelemetry_instrumentor: rfs_otel``)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        set_recording_enabled(True)

    def _uninstrument(self, **kwargs: Any) -> None:
        set_recording_enabled(False)
