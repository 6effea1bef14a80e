"""The process-wide default collector and the ``record_*`` helpers that use it."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from ._collector import MetricsCollector
from ._util.fork import reinit_in_child

__all__ = [
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

Labels = Mapping[str, object]


def get_metrics_collector() -> MetricsCollector:
    """The process-wide collector (memory storage) unless ``set_metrics_collector`` installed another."""
    global _default
    collector = _default
    if collector is None:
        with _lock:
            if _default is None:
                _default = MetricsCollector()
            collector = _default
    return collector


def set_metrics_collector(collector: MetricsCollector | None) -> MetricsCollector | None:
    """Install ``collector`` as the process-wide default (None: a fresh one on next use); returns the old one."""
    global _default
    if collector is not None and not isinstance(collector, MetricsCollector):
        raise TypeError(f"set_metrics_collector takes a MetricsCollector or None, got {collector!r}")
    with _lock:
        previous, _default = _default, collector
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
