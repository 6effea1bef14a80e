"""The public import path of ``RfsOtelInstrumentor`` (``from rfs_otel.instrumentor import RfsOtelInstrumentor``),
as OpenTelemetry's instrumentations name theirs; it needs the ``instrumentation`` extra."""

from __future__ import annotations

from ._instrumentor import RfsOtelInstrumentor

__all__ = ["RfsOtelInstrumentor"]
