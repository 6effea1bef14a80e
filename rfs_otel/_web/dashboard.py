"""``MetricsDashboard``: the dashboard's data, computed for real from sliding windows of snapshots.

It lives in the web layer, below storages and the collector, because ``PrometheusStorage`` builds and serves
one: it reads the collector through the ``MetricSource`` Protocol (``source.py``), never importing it. The
collector that ``MetricsDashboard()`` uses when given none is resolved by a hook the package's top installs
(``rfs_otel._dashboard`` calls ``use_default_source(get_metrics_collector)`` at import).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._engine.reading import distribution, total
from .._model.quantile import bucket_quantile
from .._util.fork import after_fork_in_child, reinit
from .._util.json import strict_dumps
from .names import DashboardNames, RouteCounts, bounds_of, read_routes
from .names import resolve as resolve_names
from .process import ProcessStats, process_start_time
from .source import AlertSource, MetricSource, OTelCollecting, by_name

__all__ = ["WINDOWS", "DashboardNames", "MetricsDashboard", "parse_window", "use_default_source"]

#: The windows the page (and ``/api/dashboard?window=``) offers, by name, in seconds.
WINDOWS: dict[str, float] = {"1m": 60.0, "5m": 300.0, "15m": 900.0, "1h": 3600.0}
_KEEP = max(WINDOWS.values())  # snapshots and chart points are kept this long
_MAX_POINTS = 360  # chart points sent per answer (older ones thinned evenly)
_MAX_ROUTES = 100  # per-route rows sent per answer (the busiest; the rest are counted in routes_omitted)

_default_source: list[Callable[[], MetricSource]] = []


def use_default_source(resolve: Callable[[], MetricSource]) -> None:
    """Install how ``MetricsDashboard()`` finds its collector when given none (the process-wide default).

    Called once by ``rfs_otel._dashboard`` with ``get_metrics_collector``, which lives layers above this one.
    """
    _default_source[:] = [resolve]


def _default() -> MetricSource:
    if not _default_source:
        raise RuntimeError("MetricsDashboard() needs a collector: import rfs_otel (which installs the default)")
    return _default_source[0]()


def parse_window(text: str) -> float:
    """Seconds of a window name (``1m``, ``5m``, ``15m``, ``1h``); a ``ValueError`` naming the choices otherwise."""
    if text not in WINDOWS:
        raise ValueError(f"dashboard window must be one of {', '.join(WINDOWS)}, got {text!r}")
    return WINDOWS[text]


@dataclass(frozen=True)
class _Sample:
    at: float
    names: DashboardNames  # as resolved at this moment
    exists: frozenset[str]  # which of the named metrics exist
    routes: dict[str, RouteCounts]
    bounds: tuple[float, ...] | None
    orders: float
    revenue: float


def _nan_to_zero(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else value


@dataclass(frozen=True)
class _Window:
    """What happened between two samples, summed over every route or for one."""

    span: float
    requests: float
    errors: float
    counts: list[int] | None
    low: float
    high: float

    @classmethod
    def between(cls, now: _Sample, then: _Sample, route: str | None = None) -> _Window:
        span = now.at - then.at
        keys = list(now.routes) if route is None else [route]
        requests = errors = 0.0
        counts: list[int] | None = None
        low, high = math.inf, -math.inf
        for key in keys:
            new, old = now.routes[key], then.routes.get(key) if span > 0 else None
            requests += max(0.0, new.requests - (old.requests if old else 0.0))
            errors += max(0.0, new.errors - (old.errors if old else 0.0))
            if new.counts is not None:
                delta = (
                    new.counts
                    if old is None or old.counts is None
                    else [max(0, a - b) for a, b in zip(new.counts, old.counts)]
                )
                counts = delta if counts is None else [a + b for a, b in zip(counts, delta)]
                low, high = min(low, new.low), max(high, new.high)
        return cls(span, requests, errors, counts, low, high)

    def rate(self) -> float:
        return self.requests / self.span if self.span > 0 else 0.0

    def error_rate(self) -> float:
        return min(1.0, self.errors / self.requests) if self.requests > 0 else 0.0

    def quantile(self, q: float, bounds: tuple[float, ...] | None) -> float | None:
        if self.counts is None or bounds is None or not any(self.counts):
            return None
        return _clean(bucket_quantile(q, bounds, self.counts, self.low, self.high))


class MetricsDashboard:
    """Dashboard data for a collector: system, application and business blocks (plus alerts), per-route rows.

    Rates are taken over ``window`` seconds of recent snapshots (one is taken on every call, and every
    ``interval`` seconds once ``start()`` runs a sampler), not averaged over the process lifetime. Which metrics
    are read is ``names`` (``DashboardNames``); fields left None are detected from what the collector has.
    """

    def __init__(
        self,
        collector: MetricSource | None = None,
        *,
        names: DashboardNames | None = None,
        window: float = 60.0,
        alert_manager: AlertSource | None = None,
        clock: Callable[[], float] | None = None,
        history: int = 4000,
    ) -> None:
        if not (isinstance(window, (int, float)) and window > 0):
            raise ValueError(f"MetricsDashboard window must be a positive number of seconds, got {window!r}")
        if names is not None and not isinstance(names, DashboardNames):
            raise TypeError(f"MetricsDashboard names must be a DashboardNames, got {names!r}")
        self.collector: MetricSource = collector if collector is not None else _default()
        self.names = names or DashboardNames()
        self.window = float(window)
        self.alert_manager = alert_manager
        self._clock = clock or time.time
        self._samples: deque[_Sample] = deque(maxlen=history)
        self._series: deque[dict[str, Any]] = deque(maxlen=history)
        self._created_day = self._day(self._clock())
        self._day_baseline: tuple[_dt.date, float, float] | None = None
        self._process = ProcessStats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        after_fork_in_child(self, "_after_fork")

    def _after_fork(self) -> None:
        """In a forked child: unlock, in case the parent's sampler was taking a sample at fork time."""
        reinit(self._lock)

    @staticmethod
    def _day(moment: float) -> _dt.date:
        return _dt.datetime.fromtimestamp(moment).date()

    # -- sampling -----------------------------------------------------------------------------

    def _sample(self) -> _Sample:
        families = by_name(self.collector)
        names = resolve_names(self.names, families)
        values = distribution(families.get(names.order_values))
        named = (names.requests, names.errors, names.latency, names.active_requests, names.orders)
        return _Sample(
            at=self._clock(),
            names=names,
            exists=frozenset(n for n in (*named, names.order_values, names.active_users) if n and n in families),
            routes=read_routes(names, families),
            bounds=bounds_of(names, families),
            orders=_nan_to_zero(total(families.get(names.orders))),
            revenue=0.0 if values is None else values.sum,
        )

    def _then(self, now: _Sample, window: float) -> _Sample:
        """The oldest sample at most ``window`` before ``now`` (else the newest before it; else ``now``)."""
        before = [s for s in self._samples if s is not now]
        inside = [s for s in before if now.at - s.at <= window]
        return inside[0] if inside else (before[-1] if before else now)

    def _take(self) -> tuple[_Sample, dict[str, Any]]:
        """Take a snapshot and the system block; add a chart point over the dashboard's own window (lock held)."""
        sample = self._sample()
        self._samples.append(sample)
        while len(self._samples) > 2 and sample.at - self._samples[1].at >= max(_KEEP, self.window):
            self._samples.popleft()
        day = self._day(sample.at)
        if self._day_baseline is None or self._day_baseline[0] != day:
            fresh = day == self._created_day
            self._day_baseline = (day, 0.0 if fresh else sample.orders, 0.0 if fresh else sample.revenue)
        system = self._system()
        point = {"t": sample.at, **self._application(sample, self.window)}
        self._series.append({**point, "cpu_usage": system["cpu_usage"], "memory_usage": system["memory_usage"]})
        while len(self._series) > 2 and sample.at - self._series[0]["t"] > _KEEP:
            self._series.popleft()
        return sample, system

    # -- the seed's blocks ----------------------------------------------------------------------

    def _application(self, now: _Sample, window: float) -> dict[str, Any]:
        seen = _Window.between(now, self._then(now, window))
        return {
            "requests_per_second": seen.rate(),
            "error_rate": seen.error_rate(),
            "response_time_p95": seen.quantile(0.95, now.bounds),
        }

    def _system(self) -> dict[str, Any]:
        uptime = max(0.0, time.time() - process_start_time())
        otel = self._otel_system()
        if otel is not None:
            memory, cpu = otel
        else:
            memory, cpu = self._process.memory_bytes(), self._process.cpu_percent()
        return {"uptime": uptime, "memory_usage": memory, "cpu_usage": cpu}

    def _otel_system(self) -> tuple[float, float] | None:
        """Process memory (bytes) and CPU (%) from the OTel system-metrics instruments, when enabled."""
        if not self.collector.system_metrics_enabled:
            return None
        memory_storage = next((s for s in self.collector.storages if isinstance(s, OTelCollecting)), None)
        if memory_storage is None:
            return None
        values: dict[str, float] = {}
        data = memory_storage.collect()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name in ("process.memory.usage", "process.cpu.utilization"):
                        values[metric.name] = float(sum(getattr(p, "value", 0.0) for p in metric.data.data_points))
        if "process.memory.usage" not in values:
            return None
        return values["process.memory.usage"], 100.0 * values.get("process.cpu.utilization", 0.0)

    def _business(self, now: _Sample) -> dict[str, Any]:
        assert self._day_baseline is not None
        _, orders_base, revenue_base = self._day_baseline
        active = total(by_name(self.collector).get(now.names.active_users))
        return {
            "orders_today": now.orders - orders_base,
            "revenue_today": now.revenue - revenue_base,
            "active_users": None if math.isnan(active) else active,
        }

    async def get_dashboard_data(self) -> dict[str, Any]:
        """The seed's dashboard shape: ``system``, ``application``, ``business`` (and ``alerts``)."""
        return self.data()

    def data(self, window: float | None = None) -> dict[str, Any]:
        """Synchronous form of ``get_dashboard_data``; rates over ``window`` seconds (default: the dashboard's)."""
        with self._lock:
            now, system = self._take()
            return self._blocks(now, system, self.window if window is None else window)

    def _blocks(self, now: _Sample, system: dict[str, Any], window: float) -> dict[str, Any]:
        data: dict[str, Any] = {
            "system": system,
            "application": self._application(now, window),
            "business": self._business(now),
        }
        if self.alert_manager is not None:
            data["alerts"] = [a.to_dict() for a in self.alert_manager.active_alerts()]
        return data

    def view(self, window: float | None = None) -> dict[str, Any]:
        """What the page shows over ``window`` seconds: the seed's blocks, per-route rows, the latency
        distribution, chart points, which metrics exist and under which names (the JSON API's body)."""
        seconds = self.window if window is None else window
        with self._lock:
            now, system = self._take()
            return self._view(now, system, seconds)

    def _view(self, now: _Sample, system: dict[str, Any], seconds: float) -> dict[str, Any]:
        then = self._then(now, seconds)
        names = now.names
        exists = now.exists
        has_latency = names.latency in exists
        has_requests = names.requests in exists or has_latency
        whole = _Window.between(now, then)
        routes = self._route_rows(now, then) if names.route_label is not None else []
        return {
            "data": self._blocks(now, system, seconds),
            "window": {"seconds": seconds, "span": whole.span},
            "started_at": process_start_time(),
            "names": dataclasses.asdict(names),
            "available": {
                "requests": has_requests,
                "errors": names.errors in exists or (has_latency and names.error_label is not None),
                "latency": has_latency,
                "active_requests": names.active_requests in exists,
                "orders": names.orders in exists,
                "revenue": names.order_values in exists,
                "active_users": names.active_users in exists,
                "routes": has_requests and names.route_label is not None,
            },
            "active_requests": _clean(total(by_name(self.collector).get(names.active_requests or ""))),
            "routes": routes[:_MAX_ROUTES],
            "routes_omitted": max(0, len(routes) - _MAX_ROUTES),
            "latency": None
            if now.bounds is None
            else {"bounds": list(now.bounds), "counts": whole.counts, "unit": "s"},
            "history": self._history(seconds),
        }

    @staticmethod
    def _route_rows(now: _Sample, then: _Sample) -> list[dict[str, Any]]:
        rows = []
        for route in now.routes:
            seen = _Window.between(now, then, route)
            row: dict[str, Any] = {"route": route, "requests_per_second": seen.rate(), "requests": seen.requests}
            row["error_rate"] = seen.error_rate()
            row.update({f"p{q}": seen.quantile(q / 100, now.bounds) for q in (50, 95, 99)})
            rows.append(row)
        rows.sort(key=lambda r: (-r["requests"], r["route"]))
        return rows

    def history(self, window: float | None = None) -> list[dict[str, Any]]:
        """Chart points (time, request rate, error rate, p95, CPU, memory) of the last ``window`` seconds (all
        kept ones by default), thinned evenly to at most a few hundred."""
        with self._lock:
            return self._history(window)

    def _history(self, window: float | None) -> list[dict[str, Any]]:
        points = list(self._series)
        if window is not None and points:
            points = [p for p in points if points[-1]["t"] - p["t"] <= window]
        if len(points) > _MAX_POINTS:
            step = len(points) / _MAX_POINTS
            points = [points[int(i * step)] for i in range(_MAX_POINTS - 1)] + [points[-1]]
        return points

    async def export_metrics_json(self) -> str:
        """Every series as the seed's JSON export (strict JSON: NaN becomes null, infinities "+Inf"/"-Inf")."""
        all_metrics = await self.collector.get_all_metrics()
        return strict_dumps([m.to_dict() for m in all_metrics], indent=2)

    # -- background sampler --------------------------------------------------------------------

    def start(self, interval: float = 2.0) -> None:
        """Take a snapshot every ``interval`` seconds in a daemon thread (for live charts)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.wait(interval):
                self.data()

        self._thread = threading.Thread(target=run, name="rfs-otel-dashboard", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the sampler; idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
