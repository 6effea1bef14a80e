"""The instrument factories a collector and its scoped meters share: ``counter``, ``gauge``, ``histogram``,
``summary`` and ``timer``, each creating its family in a registry once and reusing it afterwards."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import cast

from .._errors import MetricError
from .._model.records import MetricType
from .._model.validation import DEFAULT_QUANTILES
from .aggregation import histogram_aggregation
from .family import Family
from .registry import Registry
from .series import Counter, Gauge, Histogram, Series, Summary
from .timer import Timer

__all__ = ["Instruments", "Meter", "Scope", "check_scope"]

#: A summary's window and export arguments at their defaults (``max_age``, ``max_samples``, ``export``).
_PLAIN = (600, 10000, "summary")

Labels = Mapping[str, object]
#: An instrumentation scope: name, version and schema URL.
Scope = tuple[str, "str | None", "str | None"]


class Instruments:
    """Creates and reuses series in ``_registry``, under the instrumentation scope ``_scope`` (None: rfs_otel's)."""

    _registry: Registry
    _scope: Scope | None = None

    def _cached(self, family: Family | None, labels: Labels | None, description: str) -> Series | None:
        """The existing series ``labels`` of ``family`` when this request can take it as is: same scope, and no
        other description (anything else goes through the registry, which checks and warns)."""
        if family is None or family.scope != self._scope:
            return None
        series = family.lookup(labels)
        return series if series is not None and (not description or description == family.description) else None

    def _reuse(self, kind: MetricType, family: Family | None) -> MetricType | None:
        """The kind the registry may reuse ``family`` as without defining: never across scopes (defining checks)."""
        return kind if family is not None and family.scope == self._scope else None

    def counter(
        self,
        name: str,
        description: str = "",
        labels: Labels | None = None,
        unit: str = "",
        *,
        cardinality_limit: int | None = None,
        series_ttl: float | None = None,
    ) -> Counter:
        """The counter series ``name{labels}``, created on first use and shared afterwards."""
        family = self._registry.lookup(name, MetricType.COUNTER)
        if (series := self._cached(family, labels, description)) is not None:
            return cast(Counter, series)

        def define() -> Family:
            kind = MetricType.COUNTER
            limit, ttl = cardinality_limit, series_ttl
            return self._registry.define(name, kind, description, unit, limit=limit, ttl=ttl, scope=self._scope)

        reuse = self._reuse(MetricType.COUNTER, family)
        return cast(Counter, self._registry.series(name, labels, define, reuse, description))

    def gauge(
        self,
        name: str,
        description: str = "",
        labels: Labels | None = None,
        unit: str = "",
        *,
        cardinality_limit: int | None = None,
        multiprocess_mode: str = "sum",
        series_ttl: float | None = None,
    ) -> Gauge:
        """The gauge series ``name{labels}``; ``set(v, labels=...)`` reaches its child series.

        ``multiprocess_mode`` (multiprocess collectors only) combines live workers' values:
        ``sum``, ``max``, ``min``, ``mostrecent`` or ``perpid`` (one series per worker, label ``pid``).
        """
        family = self._registry.lookup(name, MetricType.GAUGE)
        if (series := self._cached(family, labels, description)) is not None:
            return cast(Gauge, series)

        def define() -> Family:
            kind = MetricType.GAUGE
            limit, mode = cardinality_limit, multiprocess_mode
            ttl, scope = series_ttl, self._scope
            return self._registry.define(name, kind, description, unit, limit=limit, mode=mode, ttl=ttl, scope=scope)

        reuse = self._reuse(MetricType.GAUGE, family)
        return cast(Gauge, self._registry.series(name, labels, define, reuse, description))

    def histogram(
        self,
        name: str,
        buckets: Iterable[float] | None = None,
        description: str = "",
        labels: Labels | None = None,
        unit: str = "",
        *,
        cardinality_limit: int | None = None,
        series_ttl: float | None = None,
        aggregation: str | None = None,
        max_size: int | None = None,
        max_scale: int | None = None,
    ) -> Histogram:
        """The histogram series ``name{labels}``; default buckets are Prometheus' seconds-oriented ones.

        ``aggregation="exponential"`` aggregates as an OTel base-2 exponential histogram of at most ``max_size``
        buckets per sign (default 160) starting at scale ``max_scale`` (default 20); ``"explicit"`` forces buckets.
        """
        family = self._registry.lookup(name, MetricType.HISTOGRAM)
        plain = buckets is None and aggregation is None and max_size is None and max_scale is None
        if plain and (series := self._cached(family, labels, description)) is not None:
            return cast(Histogram, series)
        asked = histogram_aggregation(name, aggregation, buckets, max_size, max_scale)

        def define() -> Family:
            kind, limit, ttl, scope = MetricType.HISTOGRAM, cardinality_limit, series_ttl, self._scope
            return self._registry.define(
                name, kind, description, unit, buckets=buckets, limit=limit, ttl=ttl, aggregation=asked, scope=scope
            )

        return cast(Histogram, self._registry.series(name, labels, define))

    def summary(
        self,
        name: str,
        max_age: float = 600,
        max_samples: int = 10000,
        quantiles: Iterable[float] = DEFAULT_QUANTILES,
        description: str = "",
        labels: Labels | None = None,
        unit: str = "",
        buckets: Iterable[float] | None = None,
        *,
        cardinality_limit: int | None = None,
        export: str = "summary",  # or "histogram_and_gauges": the former histogram + <name>_pNN gauges
    ) -> Summary:
        """The summary series ``name{labels}``: exact quantiles over a sliding window."""
        family = self._registry.lookup(name, MetricType.SUMMARY)
        # Asked with every layout argument left at its default (record_summary does): the summary as defined,
        # as a histogram asked again without buckets keeps its layout.
        plain = buckets is None and quantiles is DEFAULT_QUANTILES and (max_age, max_samples, export) == _PLAIN
        same = family is not None and (
            plain
            or (
                family.summary_export == export
                and family.same_window(buckets, max_age, max_samples, quantiles, DEFAULT_QUANTILES)
            )
        )
        if same and (series := self._cached(family, labels, description)) is not None:
            return cast(Summary, series)

        # plain: the layout of the summary as defined, so a differing description warns instead of conflicting
        layout = family if plain and family is not None and family.scope == self._scope else None

        def define() -> Family:
            return self._registry.define(
                name,
                MetricType.SUMMARY,
                description,
                unit,
                buckets=buckets if layout is None else layout.bounds,
                quantiles=quantiles if layout is None else layout.quantiles,
                max_age=max_age if layout is None else layout.max_age,
                max_samples=max_samples if layout is None else layout.max_samples,
                limit=cardinality_limit,
                scope=self._scope,
                export=export if layout is None else layout.summary_export,
            )

        reuse = self._reuse(MetricType.SUMMARY, family) if plain else None
        return cast(Summary, self._registry.series(name, labels, define, reuse, description))

    def timer(
        self,
        name: str,
        buckets: Iterable[float] | None = None,
        description: str = "",
        labels: Labels | None = None,
    ) -> Timer:
        """A context manager/decorator timing into the histogram ``name`` (seconds)."""
        return Timer(self.histogram(name, buckets=buckets, description=description, labels=labels, unit="s"))


def check_scope(name: object, version: object, schema_url: object) -> None:
    """Refuse an unusable scope: a non-empty name, and a version and schema URL that are text or None."""
    if not isinstance(name, str) or not name.strip():
        raise MetricError(f"meter name must be a non-empty str (the library's name), got {name!r}")
    for what, value in (("version", version), ("schema_url", schema_url)):
        if value is not None and not isinstance(value, str):
            raise MetricError(f"meter {name!r}: {what} must be a str or None, got {value!r}")


class Meter(Instruments):
    """The instruments of one library, exported under its own instrumentation scope (``collector.meter(...)``).

    Metric names stay unique across a collector: a name another scope (or the collector itself) defined is
    refused with ``MetricConflictError``.
    """

    def __init__(self, registry: Registry, name: str, version: str | None, schema_url: str | None) -> None:
        self._registry = registry
        self._scope = (name, version, schema_url)

    @property
    def name(self) -> str:
        return self._scope[0] if self._scope else ""

    @property
    def version(self) -> str | None:
        return self._scope[1] if self._scope else None

    @property
    def schema_url(self) -> str | None:
        return self._scope[2] if self._scope else None

    def __repr__(self) -> str:
        return f"<Meter {self.name!r} version={self.version!r}>"
