"""The storage contract: a storage contributes OTel readers and delivers a collection when asked."""

from __future__ import annotations

import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Sequence

from opentelemetry.sdk.metrics.export import MetricReader

from .._result import Result
from .._util.fork import reinit_in_child
from .._web.source import MetricSource

__all__ = ["MetricsStorage"]

#: Makes a claim's check and mark one step: of two collectors racing onto one storage exactly one gets it.
_claims = threading.Lock()
reinit_in_child(_claims)


class MetricsStorage(ABC):
    """Base class of storages. A storage maps onto one or more real OTel readers/exporters."""

    #: Whether ``collector.shutdown()`` should deliver a last collection here (push-style storages).
    flush_on_shutdown: bool = False

    #: Whether ``store`` talks to the network; the collector serves local storages first, so a slow
    #: endpoint cannot use up the collection's deadline before a file or memory storage got its snapshot.
    remote: bool = False

    @abstractmethod
    def readers(self) -> Sequence[MetricReader]:
        """The OTel readers to register on the collector's MeterProvider (called once)."""

    @abstractmethod
    def store(self, timeout: float) -> Result[int, str]:
        """Collect through this storage's readers and deliver; blocking, never raises for a delivery fault.

        ``timeout`` is the time this collection has left: a storage must return within it (the collector
        runs storages in the calling thread, also at interpreter exit).
        Returns ``Success(number of data points delivered)`` or ``Failure(message)``.
        """

    def claim(self, collector: object) -> None:
        """Mark this storage as serving ``collector``; a second collector is refused with a clear error, because
        OpenTelemetry registers a reader with one MeterProvider for good (even after that provider shut down)."""
        with _claims:
            owner = self.__dict__.get("_claimed_by")
            if owner is None or owner() is collector:
                self.__dict__["_claimed_by"] = weakref.ref(collector)
                return
        raise ValueError(
            f"{self!r} already served another MetricsCollector: a storage feeds one collector for its whole "
            f"life (its OpenTelemetry reader stays registered with that collector's MeterProvider); "
            f"create a new {type(self).__name__}(...) for this collector"
        )

    @property
    def claimed(self) -> bool:
        """Whether a collector took this storage (before that, its readers have nothing to collect)."""
        return "_claimed_by" in self.__dict__

    def unclaim(self, collector: object) -> None:
        """Undo ``claim`` (the collector failed to start, so its provider never registered this storage's readers)."""
        with _claims:
            owner = self.__dict__.get("_claimed_by")
            if owner is not None and owner() is collector:
                del self.__dict__["_claimed_by"]

    def attach(self, collector: MetricSource) -> None:  # noqa: B027 - optional hook
        """Called once by the collector that owns this storage (storages that need it keep a reference).

        Typed by the collector's read side (``MetricSource``): storages sit a layer below the collector.
        """

    def shutdown(self) -> None:  # noqa: B027 - optional hook
        """Release what the storage holds (servers, files); readers are shut down by the provider."""
