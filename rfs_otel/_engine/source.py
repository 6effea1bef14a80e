"""Where exported values are read from at a collection: this process's series, or (multiprocess) every worker's.

The bridge reads a ``Source`` to build OTel points and ``records`` reads the same one to build ``Metric`` records,
so both see the same values, aggregated once per collection.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from .._model.records import Metric, MetricType
from .._model.validation import LabelKey
from .expo import ExpoSnapshot
from .expo_series import expo_value
from .family import Family
from .layout import HistogramSnapshot, histogram_value
from .series import Summary

__all__ = ["Distribution", "LocalSource", "Pairs", "Source", "records"]

#: Counters whose totals a direct scrape reads at once (a tuple per series while they are read: 56 bytes each).
_SLICE = 4096

#: One series' distribution: its OTel attributes, merged snapshot and exemplars per bucket (or None).
Distribution = tuple[dict[str, Any], HistogramSnapshot, "dict[int, Any] | None"]


class Source(Protocol):
    """Exported values of a family's series, as (OTel attributes, value) pairs."""

    def begin(self) -> None:
        """Called once at the start of each collection (under the bridge's collection lock)."""

    def values(self, family: Family) -> list[tuple[dict[str, Any], float]]:
        """Counter totals or gauge values."""

    def distributions(self, family: Family) -> list[Distribution]:
        """Histogram and summary distributions."""

    def statistics(self, family: Family) -> list[tuple[dict[str, Any], dict[str, float]]]:
        """Summary statistics (``count``, ``sum``, ``mean``, ``min``, ``max``, ``pNN``)."""


class Pairs:
    """(label key, value) pairs kept as two lists: iterating them makes no tuple per series (``zip`` reuses one)."""

    __slots__ = ("keys", "values")

    def __init__(self, keys: list[LabelKey], values: list[Any]) -> None:
        self.keys = keys
        self.values = values

    def __iter__(self) -> Iterator[tuple[LabelKey, Any]]:
        return zip(self.keys, self.values)

    def __len__(self) -> int:
        return len(self.keys)


class LocalSource:
    """Exported values read from this process's series."""

    def begin(self) -> None:
        """Nothing to prepare: the series are read directly."""

    @staticmethod
    def values(family: Family) -> list[tuple[dict[str, Any], float]]:
        from .cells import counter_totals  # cells imports the series this module imports too

        series = family.exported_series()
        if family.kind is MetricType.COUNTER:  # summed a thread's list at a time, not a series at a time
            return list(zip([s.attributes for s in series], counter_totals(series)))
        return [(s.attributes, s.get_value()) for s in series]  # type: ignore[attr-defined]

    @staticmethod
    def label_values(family: Family) -> Pairs:
        """``values`` keyed by label key: a direct scrape needs (and builds) no per-series attribute dicts."""
        from .cells import counter_totals

        series = family.exported_series()
        keys = [s.label_key for s in series]
        if family.kind is MetricType.COUNTER:  # read a slice at a time: its (cells, slot) pairs are transient
            totals: list[Any] = []
            for start in range(0, len(series), _SLICE):
                totals += counter_totals(series[start : start + _SLICE])
            return Pairs(keys, totals)
        return Pairs(keys, [s.get_value() for s in series])  # type: ignore[attr-defined]

    @staticmethod
    def label_distributions(family: Family) -> Pairs:
        """(label key, (bucket counts, sum, exemplars)) per series: ``distributions`` for a direct scrape."""
        series = family.exported_series()
        snaps = [(s.snapshot(), getattr(s, "exemplars", None)) for s in series]  # type: ignore[attr-defined]
        return Pairs([s.label_key for s in series], [(snap.counts, snap.sum, marks) for snap, marks in snaps])

    @staticmethod
    def distributions(family: Family) -> list[Distribution]:
        series = family.exported_series()
        return [(s.attributes, s.snapshot(), getattr(s, "exemplars", None)) for s in series]  # type: ignore[attr-defined]

    @staticmethod
    def statistics(family: Family) -> list[tuple[dict[str, Any], dict[str, float]]]:
        return [(s.attributes, s.get_statistics()) for s in family.exported_series() if isinstance(s, Summary)]


def _label(value: Any) -> str:
    """An OTel attribute value as a label: booleans as OTel writes them (``true``), the rest as text."""
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def records(source: Source, families: Sequence[Family], timestamp: float, totals: bool = False) -> list[Metric]:
    """One ``Metric`` record per series of ``families``, read from ``source`` (after its ``begin()``).

    With ``totals`` a summary's value also carries ``_count``/``_sum``: every observation, as exported (the
    window's ``count``/``sum`` cover only the window).
    """
    out: list[Metric] = []
    for family in families:
        items: list[tuple[dict[str, Any], Any]]
        if family.kind in (MetricType.COUNTER, MetricType.GAUGE):
            items = list(source.values(family))
        elif family.kind is MetricType.HISTOGRAM:
            items = [
                (a, expo_value(snap) if isinstance(snap, ExpoSnapshot) else histogram_value(family.bounds, snap))
                for a, snap, _ in source.distributions(family)
            ]
        else:
            items = list(source.statistics(family))
            if totals:
                every = {_key(a): snap for a, snap, _ in source.distributions(family)}
                items = [(a, _with_totals(stats, every.get(_key(a)))) for a, stats in items]
        out += [
            Metric(
                name=family.name,
                metric_type=family.kind,
                value=value,
                labels={k: _label(v) for k, v in attributes.items()},
                timestamp=timestamp,
                description=family.description,
                unit=family.unit,
            )
            for attributes, value in items
        ]
    return out


def _key(attributes: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(attributes.items()))


def _with_totals(stats: dict[str, float], every: Any) -> dict[str, float]:
    if every is None:
        return stats
    return {**stats, "_count": float(every.count), "_sum": float(every.sum)}
