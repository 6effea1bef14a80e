"""One request's metrics as OpenTelemetry's HTTP semantic conventions name them, whatever the framework.

``http.server.request.duration`` (seconds, the semconv buckets) and ``http.server.active_requests``, optionally
``http.server.request.body.size`` and ``http.server.response.body.size``; attributes ``http.request.method``,
``url.scheme``, ``http.route`` (the route template), ``http.response.status_code`` and ``error.type``.
Series are cached per attribute set, so a request costs a dict lookup, two clock reads and three recordings.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

from .._default import get_metrics_collector

if TYPE_CHECKING:
    from .._collector import MetricsCollector
    from .._engine.series import Gauge, Histogram

__all__ = [
    "DEFAULT_EXCLUDED_PATHS",
    "DURATION_BUCKETS",
    "UNMATCHED_ROUTE",
    "HttpMetrics",
    "method_of",
]

#: The semantic conventions' explicit bucket boundaries for ``http.server.request.duration`` (seconds).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
#: Body-size buckets (bytes): powers of 4 from 64 B to 16 MiB.
SIZE_BUCKETS = tuple(float(4**i) for i in range(3, 13))
#: Paths not measured unless configured otherwise: the metrics endpoint and the usual health checks.
DEFAULT_EXCLUDED_PATHS = ("/metrics", "/health", "/healthz", "/livez", "/readyz", "/ready", "/ping")
#: The one ``http.route`` every request no route matched is folded into (404s for random paths stay one series).
UNMATCHED_ROUTE = "unmatched"

#: The key a request's environ/scope/META carries naming the collectors that already measure it.
_CLAIMED = "rfs_otel.measured_by"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"})


def method_of(method: str) -> str:
    """The ``http.request.method`` value: a known method as is, anything else ``_OTHER`` (bounded cardinality)."""
    return method if method in _KNOWN_METHODS else "_OTHER"


class HttpMetrics:
    """The instruments of one middleware; the collector is resolved at the first request (after a fork)."""

    def __init__(
        self,
        collector: MetricsCollector | None = None,
        *,
        excluded_paths: Iterable[str] = DEFAULT_EXCLUDED_PATHS,
        body_sizes: bool = False,
    ) -> None:
        if isinstance(excluded_paths, str):
            raise TypeError(f"excluded_paths must be an iterable of paths, got the str {excluded_paths!r}")
        paths = tuple(excluded_paths)
        for path in paths:
            if not isinstance(path, str) or not path.startswith("/"):
                raise ValueError(f"excluded_paths entries must be str paths starting with '/', got {path!r}")
        self._exact = frozenset(p.rstrip("/") or "/" for p in paths)
        self._prefixes = tuple(p.rstrip("/") + "/" for p in paths if p != "/")
        self.body_sizes = bool(body_sizes)
        self._collector = collector
        self._lock = threading.Lock()
        self._durations: dict[tuple[str, ...], Histogram] = {}
        self._sizes: dict[tuple[str, ...], tuple[Histogram, Histogram]] = {}
        self._active: dict[tuple[str, str], Gauge] = {}

    def excluded(self, path: str) -> bool:
        """True if ``path`` (below the app's mount point) is one of the excluded paths or below one."""
        return path in self._exact or path.startswith(self._prefixes)

    def claim(self, carrier: MutableMapping[str, Any]) -> bool:
        """True if no other middleware of this collector measures the request (in ``carrier``, its environ or
        scope); False for the inner one of a middleware applied twice, which must not count the request again."""
        collector = self.collector
        seen = carrier.get(_CLAIMED)
        if seen is None:
            carrier[_CLAIMED] = [collector]
            return True
        if any(other is collector for other in seen):
            return False
        seen.append(collector)
        return True

    @property
    def collector(self) -> MetricsCollector:
        collector = self._collector
        if collector is None:
            collector = self._collector = get_metrics_collector()
        return collector

    def active(self, method: str, scheme: str) -> Gauge:
        """The ``http.server.active_requests`` series of ``method`` and ``scheme`` (the caller steps it)."""
        key = (method, scheme)
        gauge = self._active.get(key)
        if gauge is None:
            labels = {"http.request.method": method, "url.scheme": scheme}
            gauge = self.collector.gauge(
                "http.server.active_requests", "Number of active HTTP server requests.", labels, "{request}"
            )
            self._active[key] = gauge
        return gauge

    def finish(
        self,
        seconds: float,
        method: str,
        scheme: str,
        route: str | None,
        status: int,
        error: str | None,
        sizes: tuple[int, int] | None = None,
    ) -> None:
        """Record one finished request; ``error`` is the exception type's name, or None (then a 5xx names it)."""
        if error is None and status >= 500:
            error = str(status)
        key = (method, scheme, route or UNMATCHED_ROUTE, str(status), error or "")
        histogram = self._durations.get(key)
        if histogram is None:
            histogram = self._series(key)
        histogram.observe(seconds)
        if sizes is not None:
            pair = self._sizes.get(key)
            if pair is None:
                pair = self._size_series(key)
            pair[0].observe(sizes[0])
            pair[1].observe(sizes[1])

    def _labels(self, key: tuple[str, ...]) -> dict[str, Any]:
        method, scheme, route, status, error = key
        labels = {
            "http.request.method": method,
            "url.scheme": scheme,
            "http.route": route,
            "http.response.status_code": status,
        }
        if error:
            labels["error.type"] = error
        return labels

    def _series(self, key: tuple[str, ...]) -> Histogram:
        with self._lock:
            histogram = self.collector.histogram(
                "http.server.request.duration",
                DURATION_BUCKETS,
                "Duration of HTTP server requests.",
                self._labels(key),
                "s",
            )
            self._durations[key] = histogram
        return histogram

    def _size_series(self, key: tuple[str, ...]) -> tuple[Histogram, Histogram]:
        labels = self._labels(key)
        with self._lock:
            pair = (
                self.collector.histogram(
                    "http.server.request.body.size", SIZE_BUCKETS, "Size of HTTP server request bodies.", labels, "By"
                ),
                self.collector.histogram(
                    "http.server.response.body.size", SIZE_BUCKETS, "Size of HTTP server response bodies.", labels, "By"
                ),
            )
            self._sizes[key] = pair
        return pair
