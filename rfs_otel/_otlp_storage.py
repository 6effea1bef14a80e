"""OTLP storage: OTel's ``OTLPMetricExporter`` (gRPC or HTTP/protobuf) to any collector."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricReader, MetricsData

from ._fork import after_fork_in_child, reinit
from ._memory_storage import count_points
from ._optional import require
from ._redact import split_credentials
from ._result import Failure, Result, Success
from ._sdk import in_memory_reader, periodic_reader
from ._storage import MetricsStorage

__all__ = ["OTLPStorage"]

_PROTOCOLS = ("grpc", "http/protobuf")


class _RecordingExporter(MetricExporter):
    """Delegates to the real exporter and remembers the outcome of the last export."""

    def __init__(self, inner: MetricExporter) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality, preferred_aggregation=inner._preferred_aggregation
        )
        self.inner = inner
        self.last: tuple[MetricExportResult, int] | None = None
        self.exported = threading.Event()

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        self.last = (result, count_points(metrics_data))
        self.exported.set()
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)


class OTLPStorage(MetricsStorage):
    """Exports to an OTLP collector. With no arguments it follows the ``OTEL_EXPORTER_OTLP_*`` variables.

    Without ``interval`` every ``collect_and_store()`` exports synchronously and reports the
    exporter's result; with ``interval`` a background reader also exports every ``interval``
    seconds and flushes on ``collector.shutdown()``.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        protocol: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10,
        insecure: bool | None = None,
        *,
        interval: float | None = None,
    ) -> None:
        protocol = protocol or os.environ.get(
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        )
        if protocol not in _PROTOCOLS:
            raise ValueError(f"OTLPStorage protocol must be one of {_PROTOCOLS}, got {protocol!r}")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(f"OTLPStorage timeout must be a positive number of seconds, got {timeout!r}")
        if interval is not None and not (isinstance(interval, (int, float)) and interval > 0):
            raise ValueError(f"OTLPStorage interval must be a positive number of seconds, got {interval!r}")
        self.protocol = protocol
        self.timeout = float(timeout)
        shown = endpoint or os.environ.get(
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "(default)")
        )
        self.endpoint_for_display, _ = split_credentials(shown)
        if protocol == "grpc":
            module = require("opentelemetry.exporter.otlp.proto.grpc.metric_exporter", "otlp")
            self._new_exporter: Callable[[], MetricExporter] = partial(
                module.OTLPMetricExporter,
                endpoint=endpoint,
                insecure=insecure,
                headers=dict(headers) if headers else None,
                timeout=timeout,
            )
        else:
            module = require("opentelemetry.exporter.otlp.proto.http.metric_exporter", "otlp")
            self._new_exporter = partial(
                module.OTLPMetricExporter,
                endpoint=endpoint,
                headers=dict(headers) if headers else None,
                timeout=timeout,
            )
        self._exporter = _RecordingExporter(self._new_exporter())
        self._lock = threading.Lock()
        self.interval = interval
        self._reader: MetricReader
        if interval is None:
            self._reader = in_memory_reader(
                self._exporter._preferred_temporality, self._exporter._preferred_aggregation
            )
        else:
            self._reader = periodic_reader(self._exporter, interval, self.timeout)
        self._closed = False
        self.flush_on_shutdown = interval is None  # a periodic reader flushes itself at shutdown
        after_fork_in_child(self, "_after_fork")

    def _after_fork(self) -> None:
        """In a forked child: unlock, and use a new exporter: the parent's connections and channel stay its own."""
        reinit(self._lock)
        self._exporter.inner = self._new_exporter()

    def readers(self) -> Sequence[MetricReader]:
        return (self._reader,)

    def store(self, timeout: float) -> Result[int, str]:
        millis = min(self.timeout, timeout) * 1000
        with self._lock:
            if self._closed:
                return Failure(f"OTLP storage for {self.endpoint_for_display} is shut down")
            try:
                if self.interval is None:
                    data = self._reader.get_metrics_data()  # type: ignore[attr-defined]
                    if data is None:
                        return Success(0)
                    self._exporter.export(data, timeout_millis=millis)
                else:
                    self._exporter.last = None
                    self._reader.collect(timeout_millis=millis)
            except Exception as exc:
                return Failure(f"OTLP export to {self.endpoint_for_display} failed: {type(exc).__name__}: {exc}")
            last = self._exporter.last
        if last is None:
            return Failure(f"OTLP export to {self.endpoint_for_display} did not run")
        result, points = last
        if result is not MetricExportResult.SUCCESS:
            return Failure(
                f"OTLP export ({self.protocol}) to {self.endpoint_for_display} failed within {millis / 1000:g} s"
            )
        return Success(points)

    def shutdown(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self.interval is None:
            self._exporter.shutdown()

    def __repr__(self) -> str:
        mode = f", interval={self.interval:g}" if self.interval is not None else ""
        return f"OTLPStorage(endpoint={self.endpoint_for_display!r}, protocol={self.protocol!r}{mode})"
