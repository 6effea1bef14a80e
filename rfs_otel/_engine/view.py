"""``MetricFamily``: the public, read-only view of one registered metric (for dashboards, alert signals, rules)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._model.records import MetricType

if TYPE_CHECKING:
    from .family import Family
    from .series import Counter, Gauge, Histogram, Summary

__all__ = ["MetricFamily"]


class MetricFamily:
    """One metric as registered: its definition and its series. Reading it changes nothing.

    ``collector.families()`` returns these; the series are the very objects ``collector.counter(...)`` and
    friends hand out, so their ``get_value()``/``snapshot()``/``get_statistics()`` read the live state.
    """

    __slots__ = ("_family",)

    def __init__(self, family: Family) -> None:
        self._family = family

    @property
    def name(self) -> str:
        return self._family.name

    @property
    def kind(self) -> MetricType:
        return self._family.kind

    @property
    def description(self) -> str:
        return self._family.description

    @property
    def unit(self) -> str:
        return self._family.unit

    @property
    def buckets(self) -> tuple[float, ...]:
        """Explicit bucket upper bounds (histograms and summaries; empty otherwise)."""
        return self._family.bounds

    @property
    def quantiles(self) -> tuple[float, ...]:
        """The quantiles a summary reports (empty for other kinds)."""
        return self._family.quantiles

    @property
    def summary_export(self) -> str:
        """How a summary exports: ``"summary"`` (native) or ``"histogram_and_gauges"``."""
        return self._family.summary_export

    @property
    def max_age(self) -> float:
        return self._family.max_age

    @property
    def max_samples(self) -> int:
        return self._family.max_samples

    @property
    def limit(self) -> int:
        """The most series this metric keeps before folding new label sets into an overflow series."""
        return self._family.limit

    @property
    def overflowed(self) -> bool:
        """Whether label sets past ``limit`` were folded into the ``otel.metric.overflow`` series."""
        return self._family.overflow is not None

    def series(self) -> list[Counter | Gauge | Histogram | Summary]:
        """The metric's exported series now (a new list each call; the series objects are live).

        An unlabelled series nothing was recorded on is left out while the metric has labelled ones.
        """
        return self._family.exported_series()  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self._family.series)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MetricFamily) and other._family is self._family

    def __hash__(self) -> int:
        return id(self._family)

    def __repr__(self) -> str:
        return f"<MetricFamily {self.kind.value} {self.name!r} series={len(self)}>"
