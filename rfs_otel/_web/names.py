"""Which metrics the dashboard reads (``DashboardNames``), detected from what a collector has, and the per-route
counts it reads from them at one moment.

Three sets of names are known: the request middleware's (OpenTelemetry's HTTP semantic conventions), the seed's
``http_requests_total``... and ``@PerformanceMonitored``'s ``function_*``. A field left ``None`` is filled from the
first set whose requests or latency metric exists, so the dashboard follows whatever the app records.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

from .._engine.series import Counter, Gauge, Histogram, Summary
from .._engine.view import MetricFamily
from .._model.records import MetricType

__all__ = ["PROFILES", "DashboardNames", "RouteCounts", "bounds_of", "read_routes", "resolve"]


@dataclass(frozen=True)
class DashboardNames:
    """Which metrics feed the dashboard; a field left None is detected from the metrics the collector has.

    ``requests``/``errors`` name counters (or histograms, whose count is used); without them the ``latency``
    histogram's count is the request count and its series with an ``error_label`` label are the errors.
    ``route_label`` is the label the per-route table groups by.
    """

    requests: str | None = None
    errors: str | None = None
    latency: str | None = None
    active_requests: str | None = None
    route_label: str | None = None
    error_label: str | None = None
    orders: str = "orders_created_total"
    order_values: str = "order_value_distribution"
    active_users: str = "active_users"


#: The known sets of names, in the order they are tried: middleware, seed, decorator.
PROFILES: tuple[DashboardNames, ...] = (
    DashboardNames(
        latency="http.server.request.duration",
        active_requests="http.server.active_requests",
        route_label="http.route",
        error_label="error.type",
    ),
    DashboardNames(requests="http_requests_total", errors="http_errors_total", latency="http_request_duration_seconds"),
    DashboardNames(
        requests="function_calls_total",
        errors="function_errors_total",
        latency="function_duration_seconds",
        route_label="function",
    ),
)
#: Labels tried, in order, as the per-route key when the names do not say (the seed's metrics name none).
_ROUTE_LABELS = ("http.route", "route", "endpoint", "handler", "path", "function")


def resolve(names: DashboardNames, families: Mapping[str, MetricFamily]) -> DashboardNames:
    """``names`` with every None field filled from the first profile whose metrics exist (else the first)."""
    profile = next((p for p in PROFILES if p.requests in families or p.latency in families), PROFILES[0])
    given = {f.name: getattr(names, f.name) for f in dataclasses.fields(names) if getattr(names, f.name) is not None}
    resolved = dataclasses.replace(profile, **given)
    if resolved.route_label is None:
        present = [families[n] for n in (resolved.latency, resolved.requests) if n is not None and n in families]
        keys = {k for family in present for k in _label_keys(family)}
        label = next((k for k in _ROUTE_LABELS if k in keys), None)
        resolved = dataclasses.replace(resolved, route_label=label)
    return resolved


def _label_keys(family: MetricFamily) -> set[str]:
    return {k for series in family.series() for k, _ in series.label_key}


@dataclass
class RouteCounts:
    """One route's cumulative requests and errors and, with a latency histogram, its merged buckets."""

    requests: float = 0.0
    errors: float = 0.0
    counts: list[int] | None = None
    low: float = math.inf
    high: float = -math.inf


def _amount(series: object) -> float:
    """A counter's or gauge's value, a histogram's or summary's count."""
    if isinstance(series, (Counter, Gauge)):
        return float(series.get_value())
    if isinstance(series, (Histogram, Summary)):
        return float(sum(series.snapshot().counts))
    return 0.0


def _kind(families: Mapping[str, MetricFamily], name: str | None) -> MetricFamily | None:
    family = None if name is None else families.get(name)
    return family if family is not None and family.kind is not MetricType.GAUGE else None


def read_routes(names: DashboardNames, families: Mapping[str, MetricFamily]) -> dict[str, RouteCounts]:
    """Cumulative counts per value of ``names.route_label`` (one ``""`` route when there is none)."""
    routes: dict[str, RouteCounts] = {}
    label = names.route_label

    def route_of(label_key: tuple[tuple[str, str], ...]) -> RouteCounts:
        route = "" if label is None else dict(label_key).get(label, "")
        return routes.setdefault(route, RouteCounts())

    latency, requests, errors = (_kind(families, n) for n in (names.latency, names.requests, names.errors))
    if latency is not None and latency.kind in (MetricType.HISTOGRAM, MetricType.SUMMARY):
        for series in latency.series():
            if not isinstance(series, (Histogram, Summary)):
                continue
            snap, route = series.snapshot(), route_of(series.label_key)
            route.counts = (
                list(snap.counts) if route.counts is None else [a + b for a, b in zip(route.counts, snap.counts)]
            )
            route.low, route.high = min(route.low, snap.min), max(route.high, snap.max)
            if requests is None:
                route.requests += sum(snap.counts)
            if errors is None and names.error_label is not None and dict(series.label_key).get(names.error_label):
                route.errors += sum(snap.counts)
    for family, what in ((requests, "requests"), (errors, "errors")):
        for series in () if family is None else family.series():
            route = route_of(series.label_key)
            setattr(route, what, getattr(route, what) + _amount(series))
    return routes


def bounds_of(names: DashboardNames, families: Mapping[str, MetricFamily]) -> tuple[float, ...] | None:
    """The latency histogram's bucket bounds, or None when there is no such histogram."""
    family = families.get(names.latency or "")
    kinds = (MetricType.HISTOGRAM, MetricType.SUMMARY)
    return family.buckets if family is not None and family.kind in kinds else None
