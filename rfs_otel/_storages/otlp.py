"""OTLP storage: OTel's ``OTLPMetricExporter`` (gRPC or HTTP/protobuf) to any collector.

Every export has one deadline, ``min(timeout, what the collection has left)``: gRPC's own deadline, and for
HTTP a requests session whose transport (``_util.http``) bounds the whole request, not each socket read.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricReader, MetricsData

from .._otel.bridge import in_memory_reader, periodic_reader
from .._otel.compat import (
    exporter_preferences,
    provider_readers,
    reader_exporter,
    send_encoded,
    set_exporter_deadline,
)
from .._otel.otlp_direct import DirectOTLPReader, EncodedRequest
from .._result import Failure, Result, Success
from .._util.fork import after_fork_in_child, reinit
from .._util.http import HttpError, expect_success
from .._util.http import request as http_request
from .._util.optional import require
from .._util.redact import basic_auth, capture_errors, guard_logs, split_credentials
from .._web.source import MetricSource
from .base import MetricsStorage
from .memory import count_points

__all__ = ["OTLPStorage"]

_PROTOCOLS = ("grpc", "http/protobuf")


class _Cause:
    """The transport outcomes of one export's attempts (status and reason, refused, DNS, TLS, deadline)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def add(self, text: str) -> str:
        self.seen.append(text)
        return text

    @property
    def text(self) -> str | None:
        """The last cause, with the first one when they differ (a deadline often ends a run of refusals)."""
        if not self.seen:
            return None
        first, last = self.seen[0], self.seen[-1]
        return last if first.split(" (after")[0] == last.split(" (after")[0] else f"{first}; then {last}"


def _deadline_session(cause: _Cause) -> Any:
    """A ``requests.Session`` whose HTTP(S) requests go through the deadline-bounded transport."""
    requests = require("requests", "otlp")

    class DeadlineExceeded(requests.exceptions.RequestException):  # type: ignore[misc, name-defined]
        """Not a connection error, so the OTel client does not retry past the deadline."""

    class RedirectRefused(requests.exceptions.RequestException):  # type: ignore[misc, name-defined]
        """A 3xx is not a delivery (the OTel client would count it as one)."""

    class Adapter(requests.adapters.BaseAdapter):  # type: ignore[misc, name-defined]
        def send(
            self,
            request: Any,
            stream: bool = False,
            timeout: Any = None,
            verify: Any = True,
            cert: Any = None,
            proxies: Any = None,
        ) -> Any:
            seconds = sum(t for t in timeout if t) if isinstance(timeout, tuple) else timeout
            body = request.body.encode() if isinstance(request.body, str) else request.body
            try:
                answer = http_request(
                    request.method,
                    request.url,
                    timeout=seconds or 10.0,
                    body=body,
                    headers=dict(request.headers),
                    verify=verify,
                    cert=cert,
                )
                if 300 <= answer.status < 400:
                    expect_success(request.method, request.url, answer)
            except HttpError as exc:
                text = cause.add(str(exc))
                if exc.kind == "deadline":
                    raise DeadlineExceeded(text) from None
                if exc.kind == "redirect":
                    raise RedirectRefused(text) from None
                if exc.kind == "tls":
                    raise requests.exceptions.SSLError(text) from None
                raise requests.exceptions.ConnectionError(text) from None
            if not 200 <= answer.status < 300:
                cause.add(f"HTTP {answer.status} {answer.reason} (after {answer.elapsed:.2f} s)")
            response = requests.Response()
            response.status_code = answer.status
            response.reason = answer.reason
            response.headers = requests.structures.CaseInsensitiveDict(answer.headers)
            response._content = answer.body
            response.url = request.url
            response.request = request
            return response

        def close(self) -> None:
            pass

    session = requests.Session()
    session.trust_env = False  # proxies from the environment are not used (see docs/storage-otlp.md)
    adapter = Adapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _set_deadline(inner: Any, seconds: float) -> None:
    """Cap the exporter's retry budget to this export's deadline."""
    set_exporter_deadline(inner, seconds)


_GRPC_AFTER_FORK = (
    "gRPC export refused in a forked child: grpcio is not fork-safe (it can hang the process) unless "
    "GRPC_ENABLE_FORK_SUPPORT=true; create the OTLPStorage after the fork (e.g. gunicorn's post_fork) or use "
    "protocol='http/protobuf'"
)


def _grpc_fork_support() -> bool:
    """Whether the user switched grpcio's own fork handling on (it must be set before grpc is imported)."""
    return os.environ.get("GRPC_ENABLE_FORK_SUPPORT", "").strip().lower() in ("1", "true", "yes")


class _RecordingExporter(MetricExporter):
    """Delegates to the real exporter and remembers the outcome of the last export."""

    def __init__(self, inner: MetricExporter, cause: _Cause) -> None:
        temporality, aggregation = exporter_preferences(inner)
        super().__init__(preferred_temporality=temporality, preferred_aggregation=aggregation)
        self.inner = inner
        self.cause = cause
        self.last: tuple[MetricExportResult, int, str | None] | None = None
        #: Why exports are refused in this process (a forked child of a gRPC exporter), or None.
        self.refused: str | None = None

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        if self.refused is not None:  # answer at once: touching grpcio here could hang the process
            self.last = (MetricExportResult.FAILURE, count_points(metrics_data), self.refused)
            return MetricExportResult.FAILURE
        self.cause.seen = []
        _set_deadline(self.inner, timeout_millis / 1000)
        with capture_errors() as errors:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        self.last = (result, count_points(metrics_data), self.cause.text or (errors[-1] if errors else None))
        return result

    def export_encoded(self, request: EncodedRequest, timeout_millis: float) -> bool:
        """Send an already encoded request as ``export`` would; False when the exporter cannot send one as is."""
        self.cause.seen = []
        _set_deadline(self.inner, timeout_millis / 1000)
        with capture_errors() as errors:
            result = send_encoded(self.inner, request)
        if result is None:
            return False
        points = count_points(request.data) + request.direct_points
        self.last = (result, points, self.cause.text or (errors[-1] if errors else None))
        return True

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.refused is not None or self.inner.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        if self.refused is None:
            self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)


def _endpoint(endpoint: str | None, protocol: str) -> str | None:
    """The endpoint the exporter would use: ``endpoint`` or the ``OTEL_EXPORTER_OTLP_*`` variables."""
    if endpoint:
        return endpoint
    specific = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    if specific:
        return specific
    generic = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if generic and protocol != "grpc":
        return generic.rstrip("/") + "/v1/metrics"
    return generic or None


def _with_auth(headers: Mapping[str, str] | None, credentials: tuple[str, str] | None) -> dict[str, str] | None:
    """``headers`` plus a basic-auth header made from URL userinfo (refused if headers already authorize)."""
    merged = dict(headers) if headers else {}
    if credentials is not None:
        if any(key.lower() == "authorization" for key in merged):
            raise ValueError(
                "OTLPStorage got credentials both in the endpoint URL (user:password@) and in an authorization "
                "header; give them once"
            )
        merged["authorization"] = basic_auth(credentials)
    return merged or None


def _milliseconds_variable(name: str, default: float) -> float:
    """Seconds from an ``OTEL_METRIC_EXPORT_*`` variable (milliseconds, as the SDK's periodic reader reads it)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of milliseconds, got {text!r}")
    return value / 1000


class OTLPStorage(MetricsStorage):
    """Exports to an OTLP collector. With no arguments it follows the ``OTEL_EXPORTER_OTLP_*`` variables.

    Without ``interval`` every ``collect_and_store()`` exports synchronously and reports the
    exporter's result; with ``interval`` a background reader also exports every ``interval``
    seconds and flushes on ``collector.shutdown()``. ``user:password@`` in the endpoint becomes a basic-auth
    header; ``timeout`` is the deadline of a whole export, retries included. Left unset, ``interval`` and
    ``timeout`` come from ``OTEL_METRIC_EXPORT_INTERVAL``/``OTEL_METRIC_EXPORT_TIMEOUT`` (milliseconds) when set.
    """

    remote = True

    def __init__(
        self,
        endpoint: str | None = None,
        protocol: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        insecure: bool | None = None,
        *,
        interval: float | None = None,
    ) -> None:
        protocol = protocol or os.environ.get(
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        )
        if timeout is None:
            timeout = _milliseconds_variable("OTEL_METRIC_EXPORT_TIMEOUT", 10.0)
        if interval is None and os.environ.get("OTEL_METRIC_EXPORT_INTERVAL"):
            interval = _milliseconds_variable("OTEL_METRIC_EXPORT_INTERVAL", 60.0)
        if protocol not in _PROTOCOLS:
            raise ValueError(f"OTLPStorage protocol must be one of {_PROTOCOLS}, got {protocol!r}")
        if isinstance(timeout, bool) or not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(f"OTLPStorage timeout must be a positive number of seconds, got {timeout!r}")
        if interval is not None and not (isinstance(interval, (int, float)) and interval > 0):
            raise ValueError(f"OTLPStorage interval must be a positive number of seconds, got {interval!r}")
        self.protocol = protocol
        self.timeout = float(timeout)
        resolved = _endpoint(endpoint, protocol)
        clean, credentials = split_credentials(resolved) if resolved else (None, None)
        self.endpoint_for_display = clean or "(default)"
        sent_headers = _with_auth(headers, credentials)
        self._cause = _Cause()
        if protocol == "grpc":
            module = require("opentelemetry.exporter.otlp.proto.grpc.metric_exporter", "otlp")
            self._new_exporter: Callable[[], MetricExporter] = partial(
                module.OTLPMetricExporter, endpoint=clean, insecure=insecure, headers=sent_headers, timeout=timeout
            )
        else:
            module = require("opentelemetry.exporter.otlp.proto.http.metric_exporter", "otlp")
            cause = self._cause
            self._new_exporter = lambda: module.OTLPMetricExporter(
                endpoint=clean, headers=sent_headers, timeout=timeout, session=_deadline_session(cause)
            )
        guard_logs([*(sent_headers or {}).values(), *(credentials or ())])
        self._exporter = _RecordingExporter(self._new_exporter(), self._cause)
        self._lock = threading.Lock()
        self.interval = interval
        self._reader: MetricReader | None
        if interval is None and protocol != "grpc":  # HTTP: facade families encoded directly (otlp_direct)
            self._reader = DirectOTLPReader(*exporter_preferences(self._exporter))
        elif interval is None:
            self._reader = in_memory_reader(*exporter_preferences(self._exporter))
        else:  # started when a collector takes the storage (``readers``): an unused one runs no export thread
            self._reader = None
        self._closed = False
        self.flush_on_shutdown = interval is None  # a periodic reader flushes itself at shutdown
        after_fork_in_child(self, "_after_fork")

    def _after_fork(self) -> None:
        """In a forked child: unlock, and use a new exporter: the parent's connections and channel stay its own.

        grpcio is not fork-safe unless its fork support is switched on: a child of a process that created a gRPC
        channel can hang inside grpcio. Such a child refuses gRPC exports (each a Failure saying why) instead.
        """
        reinit(self._lock)
        if self.protocol == "grpc" and not _grpc_fork_support():
            self._exporter.refused = _GRPC_AFTER_FORK
            return
        self._exporter.inner = self._new_exporter()

    def readers(self) -> Sequence[MetricReader]:
        if self._reader is None and self.interval is not None:
            self._reader = periodic_reader(self._exporter, self.interval, self.timeout)
        return () if self._reader is None else (self._reader,)

    def attach(self, collector: MetricSource) -> None:
        """Warn when the collector's (the app's) provider already exports OTLP: every metric would go out twice."""
        provider = getattr(collector, "meter_provider", None)
        if provider is None:
            return
        for reader in provider_readers(provider):
            exporter = reader_exporter(reader)
            if exporter is None or isinstance(exporter, _RecordingExporter):
                continue
            if type(exporter).__name__ == "OTLPMetricExporter":
                warnings.warn(
                    f"{self!r} is attached to a MeterProvider that already exports OTLP through {reader!r}: "
                    "rfs_otel's metrics would be exported twice; drop the storage (the app's exporter already "
                    "sends them) or give the collector its own provider (see docs/otel-integration.md)",
                    RuntimeWarning,
                    stacklevel=4,
                )
                return

    def store(self, timeout: float) -> Result[int, str]:
        seconds = max(min(self.timeout, timeout), 0.001)
        started = time.monotonic()
        with self._lock:
            if self._closed:
                return Failure(f"OTLP storage for {self.endpoint_for_display} is shut down")
            try:
                if self._send_direct(seconds):
                    pass  # facade families encoded directly (otlp_direct), the rest by OTel's encoder
                elif self.interval is None:
                    data = self._reader.get_metrics_data()  # type: ignore[union-attr]
                    if data is None:
                        return Success(0)
                    self._exporter.export(data, timeout_millis=seconds * 1000)
                elif self._reader is not None:  # periodic: started once a collector took the storage
                    self._exporter.last = None
                    self._reader.collect(timeout_millis=seconds * 1000)
            except Exception as exc:
                return Failure(f"OTLP export to {self.endpoint_for_display} failed: {type(exc).__name__}: {exc}")
            last = self._exporter.last
        if last is None:
            return Failure(f"OTLP export to {self.endpoint_for_display} did not run")
        result, points, cause = last
        if result is not MetricExportResult.SUCCESS:
            elapsed = time.monotonic() - started
            return Failure(
                f"OTLP export ({self.protocol}) to {self.endpoint_for_display} failed after {elapsed:.2f} s "
                f"(deadline {seconds:g} s): {cause or self._silent_failure()}"
            )
        return Success(points)

    def _send_direct(self, seconds: float) -> bool:
        """Export one collection through the direct encoder; False when it does not apply (then the OTel path)."""
        if not isinstance(self._reader, DirectOTLPReader) or self._exporter.refused is not None:
            return False
        if send_encoded(self._exporter.inner, None) is None:  # asked before collecting: a second one loses deltas
            return False
        request = self._reader.encoded()
        return request is not None and self._exporter.export_encoded(request, seconds * 1000)

    def _silent_failure(self) -> str:
        """What to say when the exporter failed without a word (gRPC does so when TLS settings do not match)."""
        if self.protocol != "grpc":
            return "the exporter gave no cause"
        return (
            "no answer within the deadline and no error from gRPC; this is what a TLS mismatch looks like "
            "(a TLS client and a plaintext collector, or the reverse): check insecure= and the endpoint's scheme"
        )

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
