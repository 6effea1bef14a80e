"""A metric family: one name, kind and layout, and the series under it keyed by frozen labels."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from .._errors import MetricConflictError
from .._model.records import MetricType
from .._model.validation import LabelKey, check_labels
from .._util.fork import reinit
from .backend import CellBackend
from .filters import MetricFilter, apply_filters
from .practices import label_problem
from .series import Gauge, Series, Summary

__all__ = ["DEFAULT_CARDINALITY_LIMIT", "OVERFLOW_ATTRIBUTES", "OVERFLOW_KEY", "Family"]

#: The OTel specification's default number of attribute sets per metric.
DEFAULT_CARDINALITY_LIMIT = 2000
#: The attribute the OTel specification gives the series that takes label sets past the limit.
OVERFLOW_ATTRIBUTES: dict[str, Any] = {"otel.metric.overflow": True}
OVERFLOW_KEY: LabelKey = (("otel.metric.overflow", "true"),)

_log = logging.getLogger("rfs_otel")

_RESERVED: dict[MetricType, tuple[str, ...]] = {
    MetricType.COUNTER: (),
    MetricType.GAUGE: (),
    MetricType.HISTOGRAM: ("le",),
    MetricType.SUMMARY: ("le", "quantile"),
}


class Family:
    """Definition of one metric plus its series; series are created once and then reused."""

    def __init__(
        self,
        name: str,
        kind: MetricType,
        description: str,
        unit: str,
        backend: CellBackend,
        clock: Callable[[], float],
        bounds: tuple[float, ...] = (),
        quantiles: tuple[float, ...] = (),
        max_age: float = 0.0,
        max_samples: int = 0,
        limit: int = DEFAULT_CARDINALITY_LIMIT,
        on_overflow: Callable[[Family], None] | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.description = description
        self.unit = unit
        self.bounds = bounds
        self.quantiles = quantiles
        self.max_age = max_age
        self.max_samples = max_samples
        self.start_time_ns = time.time_ns()
        self.series: dict[LabelKey, Series] = {}
        self._aliases: dict[tuple[tuple[str, object], ...], Series] = {}
        self._backend = backend
        #: The collector's clock (monotonic seconds): summary windows age by it.
        self.clock = clock
        self._lock = threading.Lock()
        self.limit = limit
        self.filters: tuple[MetricFilter, ...] = ()
        #: Denied by a MetricFilter: its series work but are neither exported nor reported.
        self.denied = False
        #: How a gauge combines across workers in multiprocess mode (see ``GAUGE_MODES``).
        self.multiprocess_mode = "sum"
        #: ``(max_size, max_scale)`` when a histogram aggregates as an OTel exponential histogram.
        self.exponential: tuple[int, int] | None = None
        #: The instrumentation scope ``(name, version, schema_url)`` of a ``collector.meter(...)``; None: rfs_otel's.
        self.scope: tuple[str, str | None, str | None] | None = None
        #: How a summary exports: "summary" (native) or "histogram_and_gauges" (histogram plus ``_pNN`` gauges).
        self.summary_export = "summary"
        self.overflow: Series | None = None
        self._on_overflow = on_overflow
        self._label_names: tuple[str, ...] | None = None
        #: Seconds a series may stay idle before it is removed (None: never), checked at each collection.
        self.ttl: float | None = None
        self._seen: dict[LabelKey, tuple[Any, float]] = {}
        #: Removed series a caller may still hold: recorded on again, they come back (weakly held).
        self._dormant: weakref.WeakValueDictionary[LabelKey, Series] = weakref.WeakValueDictionary()
        self._removals = 0
        #: Start times of streams a removal restarted elsewhere (multiprocess: every worker's removals).
        self.restarts: dict[LabelKey, int] = {}
        self._warned_description = False
        self._warned_keys = False
        self._warned_labels = False
        #: Strict mode: naming and label practice violations raise instead of warning.
        self.strict = False

    def describe(self) -> str:
        """Short text naming the kind and layout, used in conflict errors."""
        where = "" if self.scope is None else f" in scope {self.scope[0]!r}"
        if self.kind is MetricType.HISTOGRAM and self.exponential is not None:
            size, scale = self.exponential
            return f"exponential histogram (max_size={size}, max_scale={scale}){where}"
        if self.kind is MetricType.HISTOGRAM:
            return f"histogram with buckets {list(self.bounds)}{where}"
        if self.kind is MetricType.SUMMARY:
            export = "" if self.summary_export == "summary" else f", export={self.summary_export!r}"
            window = f"max_age={self.max_age}, max_samples={self.max_samples}, quantiles={list(self.quantiles)}"
            return f"summary ({window}{export})"
        return f"{self.kind.value}{where}"

    def same_window(
        self, buckets: object, max_age: float, max_samples: int, quantiles: object, default: object
    ) -> bool:
        """Whether a summary request (no buckets; ``default`` quantiles or these) matches this family: fast reuse."""
        same = (max_age, max_samples) == (self.max_age, self.max_samples)
        return buckets is None and same and (quantiles is default or quantiles == self.quantiles)

    def check_same(self, other: Family) -> None:
        """Raise if ``other`` (a requested definition) cannot share this family."""
        if (other.kind, other.bounds, other.quantiles, other.max_age, other.max_samples, other.exponential) != (
            self.kind,
            self.bounds,
            self.quantiles,
            self.max_age,
            self.max_samples,
            self.exponential,
        ) or (other.scope, other.summary_export) != (self.scope, self.summary_export):
            raise MetricConflictError(
                f"metric {self.name!r} is already registered as a {self.describe()}; "
                f"cannot register it again as a {other.describe()}"
            )
        if other.description and other.description != self.description and not self._warned_description:
            self._warned_description = True
            _log.warning(
                "metric %r was registered with description %r; a later call asks for %r, which is ignored. "
                "Define each metric once (one description) and reuse it.",
                self.name,
                self.description,
                other.description,
            )

    def _check_keys(self, key: LabelKey) -> None:
        """Warn once when a new series' labels look unbounded or their names differ from the first series'."""
        names = tuple(k for k, _ in key)
        if not names or key == OVERFLOW_KEY:
            return
        if not self._warned_labels:
            problem = label_problem(self.name, key, self.strict)
            if problem is not None:
                self._warned_labels = True
                _log.warning("%s", problem)
        if self._label_names is None:
            self._label_names = names
        elif not self._warned_keys and not _nested(names, self._label_names):
            self._warned_keys = True
            _log.warning(
                "metric %r has series labelled %s and now %s; every series of a metric should carry the same "
                "label names, or only add optional ones (queries and recording rules assume it).",
                self.name,
                list(self._label_names),
                list(names),
            )

    def lookup(self, labels: Mapping[str, object] | None) -> Series | None:
        """The existing series for ``labels`` as given (any order seen before), or None: the cheap reuse path."""
        try:
            key = tuple(labels.items()) if labels else ()
            return self.series.get(key) or self._aliases.get(key)  # type: ignore[arg-type]
        except (TypeError, AttributeError):
            return None

    def get(self, labels: Mapping[str, object] | None) -> Series:
        """The series for ``labels``, validated and created on first use."""
        key = check_labels(self.name, labels, _RESERVED[self.kind])
        if self.filters:
            key = apply_filters(self.filters, self.name, key, _RESERVED[self.kind])
        series = self.series.get(key)
        if series is None:
            with self._lock:
                series = self.series.get(key)
                if series is None:
                    if len(self.series) - (self.overflow is not None) >= self.limit:
                        return self._fold()
                    self._check_keys(key)
                    series = self._dormant.pop(key, None) or self._create(key)
                    if self._removals:  # this label set may have been exported before: a new stream starts now
                        series.start_time_ns = series.start_time_ns or time.time_ns()
                    self.series[key] = series
        if labels:
            raw = tuple(labels.items())
            if raw != key and len(self._aliases) < self.limit:  # bounded: relabelled ids must not pile up
                try:
                    self._aliases[raw] = series
                except TypeError:
                    pass
        return series

    def exported_series(self) -> list[Series]:
        """The series an export shows: all but an unlabelled one nothing was recorded on while labelled ones exist.

        (``gauge("x")`` then ``set(v, labels={"id": ...})`` must not export a phantom ``x{id=""} 0``.)
        """
        series = list(self.series.values())
        if len(series) > 1:
            bare = self.series.get(())
            if bare is not None and not bare.recorded():
                series.remove(bare)
        return series

    # -- retention ------------------------------------------------------------------------

    def _removable(self) -> None:
        if not self._backend.removable:
            raise NotImplementedError(
                f"metric {self.name!r}: series cannot be removed or expire in multiprocess mode "
                "(every worker shares their values)"
            )

    def remove(self, labels: Mapping[str, object] | None) -> bool:
        """Stop exporting the series ``labels`` name; False when there is none."""
        key = check_labels(self.name, labels, _RESERVED[self.kind])
        if self.filters:
            key = apply_filters(self.filters, self.name, key, _RESERVED[self.kind])
        series = self.series.get(key) or self._dormant.get(key)  # a dormant one recorded on again is woken there
        return series is not None and self.remove_series(series)

    def remove_series(self, series: Series) -> bool:
        """Stop exporting ``series``: its values are reset and it waits, weakly held, in case it is used again."""
        self._removable()
        with self._lock:
            self._wake(series.label_key, removing=True)  # removed, recorded on again, not yet back: removed again
            if self.series.get(series.label_key) is not series:
                return False
            self._drop(series)
        return True

    def clear(self) -> int:
        """Remove every series of this metric; returns how many there were."""
        self._removable()
        with self._lock:
            self._wake(removing=True)
            removed = list(self.series.values())
            self._drop(*removed)
        return len(removed) + self._backend.clear_elsewhere(self, {series.label_key for series in removed})

    def _wake(self, only: LabelKey | None = None, removing: bool = False) -> None:
        """Bring back removed series (or the one ``only`` names) recorded on again since (lock held): each is a
        new stream, exported again. Before a removal only where a removal resets values (not multiprocess, where
        ``recorded()`` cannot tell and the shared removals file decides what a new removal covers)."""
        if removing and not self._backend.expires_idle:
            return
        dormant = list(self._dormant.items()) if only is None else [(only, self._dormant.get(only))]
        for key, series in dormant:
            if series is not None and series.recorded() and key not in self.series:
                del self._dormant[key]
                self.series[key] = series

    def _drop(self, *gone: Series) -> None:
        """Remove ``gone`` (lock held): unlisted, uncached, values reset, a new stream if one comes back.

        The family-wide clean-up runs once for all of them, so clearing n series is O(n), not O(n²).
        """
        for series in gone:
            key = series.label_key
            del self.series[key]
            self._seen.pop(key, None)
            if series is self.overflow:
                self.overflow = None
            series.drop_children()
            series.reset()
        # Stamped after every reset: a collection that read a value before its reset came earlier (delta readers).
        now = time.time_ns()
        for series in gone:
            series.start_time_ns = now  # the stream it starts if it is recorded on again
            self._dormant[series.label_key] = series
        self._removals += len(gone)
        if self._aliases:
            dropped = {id(series) for series in gone}
            self._aliases = {raw: s for raw, s in self._aliases.items() if id(s) not in dropped}
        for other in self.series.values():
            other.drop_children()

    def sweep(self, now: float) -> None:
        """At a collection: bring back removed series recorded on again; remove series idle for ``ttl`` seconds."""
        if not self._removals and self.ttl is None:
            return
        with self._lock:
            self._wake()
            if self.ttl is None or not (self._backend.removable and self._backend.expires_idle):
                return
            idle = []
            for key, series in list(self.series.items()):
                token = series.activity()
                seen = self._seen.get(key)
                if seen is None or seen[0] != token:
                    self._seen[key] = (token, now)
                elif now - seen[1] >= self.ttl:
                    idle.append(series)
            if idle:
                self._drop(*idle)

    def start_of(self, attributes: Mapping[str, Any]) -> int:
        """The start time of the cumulative stream with ``attributes``: the metric's, or the series' own."""
        if self.restarts:  # removed by another process (multiprocess): the stream restarted then
            restart = self.restarts.get(tuple(attributes.items()))
            if restart is not None:
                return restart
        if not self._removals:
            return self.start_time_ns
        series = self.series.get(tuple(attributes.items()))
        start = None if series is None else series.start_time_ns
        return self.start_time_ns if start is None else start

    def _fold(self) -> Series:
        """The overflow series (``otel.metric.overflow=true``) taking label sets past the limit; lock held."""
        overflow = self.overflow
        if overflow is None:
            overflow = self._create(OVERFLOW_KEY)
            overflow.attributes = dict(OVERFLOW_ATTRIBUTES)
            self.series[OVERFLOW_KEY] = overflow
            self.overflow = overflow
            _log.warning(
                "metric %r reached its limit of %d series; new label sets are folded into one series labelled "
                "otel.metric.overflow=true. Remove unbounded labels (user ids, request ids, timestamps) or raise "
                "cardinality_limit.",
                self.name,
                self.limit,
            )
        if self._on_overflow is not None:
            self._on_overflow(self)
        return overflow

    def _create(self, key: LabelKey) -> Series:
        series: Series = self._backend.new_series(self, key)
        return series

    def child(self, parent: Series, labels: Mapping[str, object]) -> Any:
        """The series whose labels are ``parent``'s with ``labels`` merged over them."""
        if not isinstance(labels, Mapping):
            return self.get(labels)  # raises the labels error
        merged: dict[str, object] = dict(parent.label_key)
        merged.update(labels)
        return self.get(merged)

    def lock(self) -> threading.Lock:
        """The lock guarding series creation (held briefly; the collector holds it across a fork)."""
        return self._lock

    def after_fork(self) -> None:
        """In a forked child: unlock this family and its gauges (another parent thread may have held them)."""
        reinit(self._lock)
        for series in list(self.series.values()):
            if isinstance(series, Gauge | Summary):
                series.after_fork()


def _nested(names: tuple[str, ...], first: tuple[str, ...]) -> bool:
    """Whether one label-name set contains the other: optional labels (OTel's ``error.type``) are fine, renames not."""
    return set(names) <= set(first) or set(first) <= set(names)
