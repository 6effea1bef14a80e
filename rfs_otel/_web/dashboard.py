"""``MetricsDashboard``: the seed's dashboard data, computed for real from sliding windows of snapshots.

It lives in the web layer, below storages and the collector, because ``PrometheusStorage`` builds and serves
one: it reads the collector through the ``MetricSource`` Protocol (``source.py``), never importing it. The
collector that ``MetricsDashboard()`` uses when given none is resolved by a hook the package's top installs
(``rfs_otel._dashboard`` calls ``use_default_source(get_metrics_collector)`` at import).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
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
from .source import AlertSource, MetricSource, OTelCollecting, by_name

#: Bounds, merged per-bucket counts (+Inf last), min and max of a histogram at one sample.
Latency = tuple[tuple[float, ...], list[int], float, float]

__all__ = ["DashboardNames", "MetricsDashboard", "use_default_source"]

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


@dataclass(frozen=True)
class DashboardNames:
    """Which metrics feed the dashboard (the seed's names by default)."""

    requests: str = "http_requests_total"
    errors: str = "http_errors_total"
    latency: str = "http_request_duration_seconds"
    orders: str = "orders_created_total"
    order_values: str = "order_value_distribution"
    active_users: str = "active_users"


@dataclass(frozen=True)
class _Sample:
    at: float
    requests: float
    errors: float
    latency: Latency | None
    orders: float
    revenue: float


def _nan_to_zero(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else value


class _ProcessStats:
    """CPU share and resident memory of this process, without psutil (Linux /proc, else getrusage)."""

    def __init__(self) -> None:
        self._last = (time.monotonic(), time.process_time())

    def cpu_percent(self) -> float:
        now, cpu = time.monotonic(), time.process_time()
        then, cpu_then = self._last
        self._last = (now, cpu)
        return 100.0 * (cpu - cpu_then) / (now - then) if now > then else 0.0

    @staticmethod
    def memory_bytes() -> float:
        try:
            with open("/proc/self/statm", encoding="ascii") as handle:
                return float(int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, IndexError):
            import resource

            return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


class MetricsDashboard:
    """Dashboard data for a collector: system, application and business blocks (plus alerts).

    Rates are taken over ``window`` seconds of recent snapshots (one is taken on every call, and every
    ``interval`` seconds once ``start()`` runs a sampler), not averaged over the process lifetime.
    """

    def __init__(
        self,
        collector: MetricSource | None = None,
        *,
        names: DashboardNames | None = None,
        window: float = 60.0,
        alert_manager: AlertSource | None = None,
        clock: Callable[[], float] | None = None,
        history: int = 300,
    ) -> None:
        if not (isinstance(window, (int, float)) and window > 0):
            raise ValueError(f"MetricsDashboard window must be a positive number of seconds, got {window!r}")
        self.collector: MetricSource = collector if collector is not None else _default()
        self.names = names or DashboardNames()
        self.window = float(window)
        self.alert_manager = alert_manager
        self._clock = clock or time.time
        self._samples: deque[_Sample] = deque()
        self._series: deque[dict[str, Any]] = deque(maxlen=history)
        self._started = self._clock()
        self._created_day = self._day(self._started)
        self._day_baseline: tuple[_dt.date, float, float] | None = None
        self._process = _ProcessStats()
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
        names, families = self.names, by_name(self.collector)
        latency = distribution(families.get(names.latency))
        values = distribution(families.get(names.order_values))
        return _Sample(
            at=self._clock(),
            requests=_nan_to_zero(total(families.get(names.requests))),
            errors=_nan_to_zero(total(families.get(names.errors))),
            latency=None if latency is None else (latency.bounds, latency.counts, latency.min, latency.max),
            orders=_nan_to_zero(total(families.get(names.orders))),
            revenue=0.0 if values is None else values.sum,
        )

    def _record(self) -> tuple[_Sample, _Sample]:
        """Take a snapshot; return it with the oldest one inside the window."""
        with self._lock:
            sample = self._sample()
            self._samples.append(sample)
            while len(self._samples) > 2 and sample.at - self._samples[1].at >= self.window:
                self._samples.popleft()
            day = self._day(sample.at)
            if self._day_baseline is None or self._day_baseline[0] != day:
                fresh = day == self._created_day
                self._day_baseline = (day, 0.0 if fresh else sample.orders, 0.0 if fresh else sample.revenue)
            return sample, self._samples[0]

    # -- the seed's blocks ----------------------------------------------------------------------

    def _application(self, now: _Sample, then: _Sample) -> dict[str, Any]:
        span = now.at - then.at
        requests = now.requests - then.requests
        errors = now.errors - then.errors
        p95: float = math.nan
        if now.latency is not None:
            bounds, counts, low, high = now.latency
            if then.latency is not None and span > 0:
                counts = [a - b for a, b in zip(counts, then.latency[1])]
            p95 = bucket_quantile(0.95, bounds, counts, low, high)
        return {
            "requests_per_second": requests / span if span > 0 else 0.0,
            "error_rate": errors / requests if requests > 0 else 0.0,
            "response_time_p95": _clean(p95),
        }

    def _system(self) -> dict[str, Any]:
        uptime = self._clock() - self._started
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
        active = total(by_name(self.collector).get(self.names.active_users))
        return {
            "orders_today": now.orders - orders_base,
            "revenue_today": now.revenue - revenue_base,
            "active_users": None if math.isnan(active) else active,
        }

    async def get_dashboard_data(self) -> dict[str, Any]:
        """The seed's dashboard shape: ``system``, ``application``, ``business`` (and ``alerts``)."""
        return self.data()

    def data(self) -> dict[str, Any]:
        """Synchronous form of ``get_dashboard_data``."""
        now, then = self._record()
        data: dict[str, Any] = {
            "system": self._system(),
            "application": self._application(now, then),
            "business": self._business(now),
        }
        if self.alert_manager is not None:
            data["alerts"] = [a.to_dict() for a in self.alert_manager.active_alerts()]
        self._series.append(
            {"t": now.at, **data["application"], **{k: data["system"][k] for k in ("cpu_usage", "memory_usage")}}
        )
        return data

    def history(self) -> list[dict[str, Any]]:
        """Recent points for charts: time, request rate, error rate, p95, CPU and memory."""
        return list(self._series)

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
