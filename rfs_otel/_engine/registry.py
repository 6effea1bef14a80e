"""The family registry: get-or-create of metric families, name conflicts, adoption, and what it reports."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from .._errors import MetricError
from .._model.names import ExposedNames, Exposure, check_quantile_keys, exposed_names
from .._model.records import GAUGE_MODES, SUMMARY_EXPORTS, MetricType
from .._model.validation import check_buckets, check_name, check_positive, check_quantiles, check_text
from .._util.fork import Reinitialisable, reinit
from .aggregation import Aggregation, exponential_by_default
from .backend import CellBackend
from .family import Family
from .filters import MetricFilter, name_accepted
from .practices import check_naming
from .series import Series

__all__ = ["OVERFLOW_COUNTER", "Definition", "Exporter", "Registry"]

OVERFLOW_COUNTER = "rfs_otel_cardinality_overflow_total"
_log = logging.getLogger("rfs_otel")
Labels = Mapping[str, object]


class _Stream(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...


class Exporter(Protocol):
    """What the registry asks of the export side (the OTel bridge): Views' effect, and where new families go."""

    def view_buckets(self, name: str, unit: str, description: str, scope: Any = None) -> tuple[float, ...] | None:
        """Bucket bounds a matching View imposes, if any."""

    def view_exponential(self, name: str, unit: str, description: str, scope: Any = None) -> tuple[int, int] | None:
        """``(max_size, max_scale)`` a matching View's ExponentialBucketHistogramAggregation asks for, if any."""

    def streams(self, name: str, unit: str, description: str, kind: MetricType, scope: Any = None) -> Sequence[_Stream]:
        """The exported streams Views make of a family."""

    def register(self, family: Family) -> None:
        """Export ``family`` from now on."""


class Definition(Protocol):
    """A family another worker defined (multiprocess): what adopting it needs."""

    kind: str
    description: str
    unit: str
    bounds: tuple[float, ...]
    quantiles: tuple[float, ...]
    max_age: float
    mode: str


def check_options(cardinality_limit: object, filters: Sequence[object], series_ttl: float | None) -> None:
    """Refuse bad collector-wide options before anything (a provider, a server) is built."""
    if isinstance(cardinality_limit, bool) or not isinstance(cardinality_limit, int) or cardinality_limit < 1:
        raise ValueError(f"cardinality_limit must be a positive int, got {cardinality_limit!r}")
    for f in filters:
        if not isinstance(f, MetricFilter):
            raise TypeError(f"filters must be MetricFilter objects, got {f!r}")
    _ttl("the collector", series_ttl)


class Registry:
    """Owns a collector's families: creates each once, refuses conflicting redefinitions, reports on them."""

    def __init__(
        self,
        backend: CellBackend,
        exporter: Exporter,
        clock: Callable[[], float],
        cardinality_limit: int,
        filters: Sequence[MetricFilter] = (),
        series_ttl: float | None = None,
        strict: bool = False,
    ) -> None:
        check_options(cardinality_limit, filters, series_ttl)
        self._ttl = _ttl("the collector", series_ttl)
        self._strict = strict
        self._backend = backend
        self._exporter = exporter
        self._clock = clock
        self._limit = cardinality_limit
        self._filters = tuple(filters)
        self._families: dict[str, Family] = {}
        self._exposed = ExposedNames(
            [exposed_names(OVERFLOW_COUNTER, MetricType.COUNTER, [(OVERFLOW_COUNTER, "")], "")]
        )
        self._lock = threading.RLock()

    def lookup(self, name: str, kind: MetricType) -> Family | None:
        """The registered family ``name`` if it is of ``kind`` (the lock-free reuse path)."""
        family = self._families.get(name)
        return family if family is not None and family.kind is kind else None

    def series(
        self,
        name: str,
        labels: Labels | None,
        define: Callable[[], Family],
        kind: MetricType | None = None,
        description: str = "",
    ) -> Series:
        """The series ``name{labels}``; the family is created by ``define()`` first or checked against it.

        ``kind`` given (counters, gauges: no layout to compare) reuses a family of that kind and of the same
        ``description`` (or none asked) without defining.
        """
        family = self._families.get(name)
        if family is not None and family.kind is kind and (not description or description == family.description):
            return family.get(labels)
        with self._lock:
            requested = define()
            family = self._families.get(name)
            if family is None:
                family = requested
                check_naming(family.name, family.kind.value, self._strict)
                if not family.denied:
                    self._exposed.claim(self._exposure(family))
                self._families[name] = family
                if not family.denied:
                    self._exporter.register(family)
            else:
                family.check_same(requested)
        return family.get(labels)

    def define(
        self,
        name: str,
        kind: MetricType,
        description: str,
        unit: str,
        *,
        buckets: Iterable[float] | None = None,
        quantiles: Iterable[float] = (),
        max_age: float = 0.0,
        max_samples: int = 0,
        limit: int | None = None,
        mode: str = "sum",
        ttl: float | None = None,
        aggregation: Aggregation | None = None,
        scope: tuple[str, str | None, str | None] | None = None,
        export: str = "summary",
    ) -> Family:
        """A validated, unregistered family (``series`` registers it or checks a registered one against it)."""
        check_name(name, kind.value)
        if limit is None:
            limit = self._limit
        elif isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"{kind.value} {name!r}: cardinality_limit must be a positive int, got {limit!r}")
        check_text(name, kind.value, "description", description)
        check_text(name, kind.value, "unit", unit)
        if mode not in GAUGE_MODES:
            raise ValueError(f"gauge {name!r}: multiprocess_mode must be one of {GAUGE_MODES}, got {mode!r}")
        bounds: tuple[float, ...] = ()
        exponential = None
        if kind is MetricType.HISTOGRAM:
            exponential = self._exponential(name, unit, description, buckets, aggregation, scope)
        if exponential is not None:
            pass
        elif kind in (MetricType.HISTOGRAM, MetricType.SUMMARY):
            imposed = self._exporter.view_buckets(name, unit, description, scope)
            if imposed is not None:
                bounds = check_buckets(name, imposed)
            elif buckets is None and kind is MetricType.HISTOGRAM and self.lookup(name, kind) is not None:
                bounds = self._families[name].bounds  # asked again without buckets: keep its layout
            else:
                bounds = check_buckets(name, buckets)
        if kind is MetricType.SUMMARY:
            if export not in SUMMARY_EXPORTS:
                raise ValueError(f"summary {name!r}: export must be one of {SUMMARY_EXPORTS}, got {export!r}")
            quantiles = check_quantiles(name, quantiles)
            check_quantile_keys(name, quantiles)
            max_age = float(check_positive(name, "max_age", max_age))
            max_samples = int(check_positive(name, "max_samples", max_samples, integer=True))
        family = Family(
            name,
            kind,
            description,
            unit,
            self._backend,
            self._clock,
            bounds=bounds,
            quantiles=tuple(quantiles),
            max_age=max_age,
            max_samples=max_samples,
            limit=limit,
            on_overflow=_weak_method(self._folded),  # families must not keep their registry alive
        )
        family.multiprocess_mode = mode
        family.exponential = exponential
        family.scope = scope
        family.summary_export = export
        family.ttl = self._ttl if ttl is None else _ttl(f"{kind.value} {name!r}", ttl)
        family.filters = self._filters
        family.strict = self._strict
        family.denied = not name_accepted(self._filters, name)
        return family

    def _exponential(
        self,
        name: str,
        unit: str,
        description: str,
        buckets: object,
        aggregation: Aggregation | None,
        scope: tuple[str, str | None, str | None] | None,
    ) -> tuple[int, int] | None:
        """``(max_size, max_scale)`` if histogram ``name`` aggregates exponentially: a View's explicit buckets,
        then a View's exponential aggregation, then ``aggregation=``, then (no buckets given) the environment."""
        if self._exporter.view_buckets(name, unit, description, scope) is not None:
            return None
        asked = self._exporter.view_exponential(name, unit, description, scope)
        if asked is None and aggregation is not None:
            asked = aggregation.exponential
        if asked is not None or aggregation is not None:
            return asked
        existing = self.lookup(name, MetricType.HISTOGRAM)
        if existing is not None and buckets is None:
            return existing.exponential  # asked again without a layout: keep the family's
        return exponential_by_default() if buckets is None else None

    def sweep(self) -> None:
        """At a collection: expire idle series (``series_ttl``) and bring back removed ones recorded on again."""
        now = self._clock()
        for family in list(self._families.values()):
            family.sweep(now)

    def _exposure(self, family: Family) -> Exposure:
        """The Prometheus names ``family`` will be exposed under, after Views."""
        streams = self._exporter.streams(family.name, family.unit, family.description, family.kind, family.scope)
        pairs = [(stream.name, stream.description) for stream in streams]
        return exposed_names(family.name, family.kind, pairs, family.unit, family.quantiles)

    def _folded(self, family: Family) -> None:
        """Count a label set folded into ``family``'s overflow series (rfs_otel_cardinality_overflow_total)."""
        if family.name == OVERFLOW_COUNTER:
            return
        labels = {"metric": family.name}

        def define() -> Family:
            description = (
                "Label sets folded into an otel.metric.overflow series because a metric reached its series limit"
            )
            return self.define(OVERFLOW_COUNTER, MetricType.COUNTER, description, "")

        counter = self.series(OVERFLOW_COUNTER, labels, define, MetricType.COUNTER)
        counter.increment()  # type: ignore[attr-defined]

    def adopt(self, found: Mapping[str, Definition]) -> None:
        """Multiprocess: register families only other workers have created, so they are exported too."""
        for name, definition in found.items():
            if name in self._families:
                continue
            exponential = definition.kind == "exponential"  # a worker's exponential histogram (multiprocess)
            kind = MetricType.HISTOGRAM if exponential else MetricType(definition.kind)
            with self._lock:
                if name in self._families or name in self._exposed.refused:
                    continue
                try:
                    family = self.define(
                        name,
                        kind,
                        definition.description,
                        definition.unit,
                        buckets=None if exponential else definition.bounds or None,
                        quantiles=definition.quantiles or (0.5,),
                        max_age=definition.max_age or 600,
                        max_samples=10000,
                        mode=definition.mode,
                        aggregation=Aggregation((int(definition.bounds[0]), int(definition.bounds[1])))
                        if exponential
                        else Aggregation(None),
                        scope=getattr(definition, "scope", None),  # the scope the defining worker's meter gave
                    )
                    if not family.denied:
                        self._exposed.claim(self._exposure(family))
                except MetricError as exc:  # two workers created families that clash: export the first only
                    self._exposed.refused.add(name)
                    _log.warning("metric %r from another worker is not exported: %s", name, exc)
                    continue
                self._families[name] = family
                self._exporter.register(family)

    # -- reading ------------------------------------------------------------------------------

    def exported(self) -> list[Family]:
        """The registered families filters let through, in registration order."""
        with self._lock:
            return [f for f in self._families.values() if not f.denied]

    def get(self, name: str) -> Family | None:
        """The registered family ``name`` (exported or not), or None."""
        return self._families.get(name)

    def series_count(self) -> int:
        """Number of series across all exported metrics."""
        return sum(len(f.series) for f in self.exported())

    def cardinality_report(self, top: int = 3) -> list[dict[str, Any]]:
        """Series per metric (most first), its limit, whether it overflowed, and the labels with most values."""
        report: list[dict[str, Any]] = []
        for family in self.exported():
            distinct: dict[str, set[str]] = {}
            for key in list(family.series):
                for label, value in key:
                    distinct.setdefault(label, set()).add(value)
            labels = sorted(((k, len(v)) for k, v in distinct.items()), key=lambda kv: (-kv[1], kv[0]))
            report.append(
                {
                    "metric": family.name,
                    "type": family.kind.value,
                    "series": len(family.series),
                    "limit": family.limit,
                    "overflowed": family.overflow is not None,
                    "top_labels": dict(labels[:top]),
                }
            )
        report.sort(key=lambda r: (-int(r["series"]), str(r["metric"])))
        return report

    # -- fork safety --------------------------------------------------------------------------

    def fork_locks(self) -> list[Reinitialisable]:
        """The families' locks, then the registry's, in the order the code nests them."""
        families = list(self._families.values())
        return [*(family.lock() for family in families), self._lock]

    def after_fork(self) -> None:
        """In a forked child: unlock the registry and every family (a parent thread may have held them)."""
        reinit(self._lock)
        for family in list(self._families.values()):
            family.after_fork()


def _ttl(owner: str, seconds: float | None) -> float | None:
    """A validated ``series_ttl``: None (keep series forever) or a positive number of seconds."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < float("inf"):
        raise ValueError(f"{owner}: series_ttl must be None or a positive number of seconds, got {seconds!r}")
    return float(seconds)


def _weak_method(method: Callable[[Family], None]) -> Callable[[Family], None]:
    """``method`` called through a weak reference to its object (a no-op once the object is gone)."""
    ref = weakref.WeakMethod(method)

    def call(family: Family) -> None:
        bound = ref()
        if bound is not None:
            bound(family)

    return call
