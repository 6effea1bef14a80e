"""The process-wide default collector and the ``record_*`` helpers that use it.

The default collector joins the application's OpenTelemetry: once the global MeterProvider is an SDK
``MeterProvider`` (set by the app or by ``opentelemetry-instrument``), its readers also receive rfs_otel's
metrics, whether the provider was set before or after the collector was created.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider

from ._collector import MetricsCollector
from ._util.fork import reinit_in_child

__all__ = [
    "bind_default_collector",
    "get_metrics_collector",
    "record_counter",
    "record_gauge",
    "record_histogram",
    "record_summary",
    "set_metrics_collector",
]

_lock = threading.Lock()
reinit_in_child(_lock)  # a forked child can always reach its default collector
_default: MetricsCollector | None = None
#: The collector ``get_metrics_collector`` created itself (only it follows the global provider).
_created: MetricsCollector | None = None
#: "auto" follows the global MeterProvider; "manual" keeps what ``bind_default_collector`` set; "off" joins none.
_mode = "auto"
#: The global MeterProvider last looked at, and the provider the default collector joined.
_seen: object = None
_joined: MeterProvider | None = None

Labels = Mapping[str, object]

DISABLED_VARIABLE = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"


def disabled_by_environment() -> bool:
    """Whether ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` names rfs_otel (it then joins no provider by itself)."""
    names = os.environ.get(DISABLED_VARIABLE, "")
    return any(name.strip() in ("rfs_otel", "rfs-otel") for name in names.split(","))


class _WhenProviderSet:
    """Callbacks of a proxy observable instrument: the SDK iterates them when the app sets the global provider.

    That is OTel's own proxy mechanism (a library's instruments become real when the provider is set); the
    iteration is the moment the default collector joins, so the provider's first collection already has it.
    """

    def __iter__(self) -> Iterator[Any]:
        follow_global_provider()
        return iter(())


_proxy_instrument: object = None
_watch_lock = threading.Lock()
reinit_in_child(_watch_lock)


def _watch_global_provider() -> None:
    """Arrange to be told when the app sets the global MeterProvider (once per process, while it is unset)."""
    global _proxy_instrument
    with _watch_lock:
        if _proxy_instrument is not None or isinstance(metrics.get_meter_provider(), MeterProvider):
            return
        meter = metrics.get_meter("rfs_otel.binding")
        callbacks: Any = _WhenProviderSet()
        _proxy_instrument = meter.create_observable_gauge("rfs_otel.binding", callbacks=callbacks)


def follow_global_provider() -> None:
    """Join the default collector to the global MeterProvider if it is a new SDK provider (auto mode only)."""
    global _seen
    provider = metrics.get_meter_provider()
    if provider is _seen:
        return
    with _lock:
        _seen = provider
        collector = _created
        if _mode != "auto" or collector is None or _default is not collector:
            return
        if isinstance(provider, MeterProvider) and not disabled_by_environment():
            _join(collector, provider)


def _join(collector: MetricsCollector, provider: MeterProvider | None) -> None:
    """Make ``provider`` the one provider besides its own that ``collector`` feeds (None: feed none)."""
    global _joined
    if _joined is not None and _joined is not provider:
        collector.leave_meter_provider(_joined)
    _joined = provider
    if provider is not None and provider is not collector.meter_provider:
        collector.join_meter_provider(provider)


def bind_default_collector(provider: MeterProvider | None, *, follow: bool = False) -> MetricsCollector:
    """Join the default collector to ``provider`` (None: to none) and stop following the global one unless
    ``follow``; used by ``RfsOtelInstrumentor``."""
    global _mode, _seen
    collector = get_metrics_collector()
    with _lock:
        _mode = "auto" if follow else ("manual" if provider is not None else "off")
        _seen = None
        _join(collector, provider)
    return collector


def get_metrics_collector() -> MetricsCollector:
    """The process-wide collector (memory storage) unless ``set_metrics_collector`` installed another.

    The collector it creates also feeds the global MeterProvider's readers once that is an SDK provider.
    """
    global _default, _created, _seen, _joined
    collector = _default
    if collector is None:
        with _lock:
            if _default is None:
                _default = _created = MetricsCollector()
                _seen = _joined = None
            collector = _default
        _watch_global_provider()
    if metrics.get_meter_provider() is not _seen:
        follow_global_provider()
    return collector


def set_metrics_collector(collector: MetricsCollector | None) -> MetricsCollector | None:
    """Install ``collector`` as the process-wide default (None: a fresh one on next use); returns the old one."""
    global _default
    if collector is not None and not isinstance(collector, MetricsCollector):
        raise TypeError(f"set_metrics_collector takes a MetricsCollector or None, got {collector!r}")
    global _joined, _seen
    with _lock:
        previous, _default = _default, collector
        if _created is not None and _joined is not None and collector is not _created:
            _created.leave_meter_provider(_joined)  # the replaced default stops feeding the app's provider
            _joined = _seen = None
    return previous


def record_counter(name: str, value: float = 1, labels: Labels | None = None) -> None:
    """Add ``value`` to the default collector's counter ``name{labels}``."""
    get_metrics_collector().counter(name, labels=labels).increment(value)


def record_gauge(name: str, value: float, labels: Labels | None = None) -> None:
    """Set the default collector's gauge ``name{labels}`` to ``value``."""
    get_metrics_collector().gauge(name, labels=labels).set(value)


def record_histogram(
    name: str, value: float, labels: Labels | None = None, buckets: Iterable[float] | None = None
) -> None:
    """Observe ``value`` in the default collector's histogram ``name{labels}``."""
    get_metrics_collector().histogram(name, buckets=buckets, labels=labels).observe(value)


def record_summary(name: str, value: float, labels: Labels | None = None) -> None:
    """Observe ``value`` in the default collector's summary ``name{labels}``."""
    get_metrics_collector().summary(name, labels=labels).observe(value)
