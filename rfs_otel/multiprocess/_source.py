"""Exported values of a multiprocess collector: every worker's, aggregated from the directory once per collection."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .._engine.family import Family
from .._engine.layout import HistogramSnapshot
from .._engine.registry import Registry
from .._engine.source import Distribution
from .._model.quantile import bucket_quantile, statistics
from .._model.validation import LabelKey
from ._aggregate import MergedFamily, aggregate
from ._expo import snapshot_of_vector
from ._layout import family_signature, signature
from ._problems import ERRORS_METRIC, problems_for
from ._removed import Removals, record, since

__all__ = ["SharedSource"]


class SharedSource:
    """The bridge's ``Source`` in multiprocess mode; families only other workers defined join ``registry``."""

    def __init__(self, directory: Path, registry: Registry) -> None:
        self._directory = directory
        self._registry = registry
        self._merged: dict[str, MergedFamily] = {}
        self._removals = Removals(directory)
        #: Raw totals of series whose metric has a ``series_ttl``, and since when (collector clock) unchanged.
        self._idle: dict[tuple[str, LabelKey], tuple[list[float], float]] = {}

    def begin(self) -> None:
        """Aggregate the directory; this worker's own definitions win over conflicting ones elsewhere."""
        own = {family.name: family for family in self._registry.exported()}
        merged = aggregate(self._directory, {n: family_signature(f) for n, f in own.items()})
        problems = problems_for(self._directory)
        if problems.counts:
            merged[ERRORS_METRIC] = MergedFamily(
                "counter",
                "Multiprocess files that could not be written or read, and conflicting metric definitions",
                "",
                (),
                (),
                0.0,
                "sum",
                {(("reason", reason),): [float(n)] for reason, n in sorted(problems.counts.items())},
            )
        self._registry.adopt(merged)
        for family in self._registry.exported():  # adopted under a View's buckets: those values do not fit
            found = merged.get(family.name)
            if found is not None and signature(found.kind, found.bounds) != family_signature(family):
                problems.report(
                    "conflict",
                    ("adopted", family.name),
                    f"metric {family.name!r} is exported with buckets {list(family.bounds)}, but workers recorded "
                    f"it with {list(found.bounds)}; those values are skipped",
                )
                del merged[family.name]
        self._forget_removed(merged)
        self._merged = merged

    def _forget_removed(self, merged: dict[str, MergedFamily]) -> None:
        """Expire series idle in every worker for their ``series_ttl``; hide removed ones until recorded again."""
        own = {family.name: family for family in self._registry.exported()}
        removed = self._removals.load()
        for family in own.values():
            found = merged.get(family.name)
            if family.ttl is None or found is None:
                continue
            now = family.clock()
            for key, vector in found.series.items():
                raw = [float(v) for v in vector]
                seen = self._idle.get((family.name, key))
                if seen is None or seen[0] != raw:
                    self._idle[(family.name, key)] = (raw, now)
                elif now - seen[1] >= family.ttl and raw != removed.get((family.name, key), (0, []))[1]:
                    record(self._directory, family.name, key, raw)  # idle in every worker: expired
        for (name, key), (at, baseline) in self._removals.load().items():
            found = merged.get(name)
            vector = None if found is None else found.series.get(key)
            if found is None or vector is None:
                continue
            rest = since(found.kind, len(found.bounds) + 1, [float(v) for v in vector], baseline)
            if rest is None:
                del found.series[key]
            else:
                found.series[key] = rest
            restarted = own.get(name)
            if restarted is not None:
                restarted.restarts[key] = at

    def _series(self, family: Family) -> dict[LabelKey, Any]:
        merged = self._merged.get(family.name)
        if merged is None:
            return {}
        bare = merged.series.get(())
        if bare is not None and len(merged.series) > 1 and not any(v for v in bare if math.isfinite(v)):
            # an unlabelled series nothing was recorded on, beside labelled ones: not exported (no phantom series)
            return {key: vector for key, vector in merged.series.items() if key}
        return merged.series

    def values(self, family: Family) -> list[tuple[dict[str, Any], float]]:
        return [(dict(key), vector[0]) for key, vector in self._series(family).items()]

    def keyed_values(self, family: Family) -> list[tuple[LabelKey, float]]:
        """``values`` keyed by label key (the direct scrape caches each series' label text by it)."""
        return [(key, vector[0]) for key, vector in self._series(family).items()]

    def keyed_distributions(self, family: Family) -> list[tuple[LabelKey, tuple[list[float], float, None]]]:
        """(label key, (bucket counts, sum, no exemplars)) per series, for the direct scrape."""
        width = len(family.bounds) + 1
        return [(key, (vector[:width], vector[width], None)) for key, vector in self._series(family).items()]

    def distributions(self, family: Family) -> list[Distribution]:
        out: list[Distribution] = []
        width = len(family.bounds) + 1
        if family.exponential is not None:
            found = [(dict(key), snapshot_of_vector(vector), None) for key, vector in self._series(family).items()]
            return [d for d in found if d[1].count or d[0] or len(found) == 1]  # no phantom unlabelled series
        for key, vector in self._series(family).items():
            counts = list(map(int, vector[:width]))
            snap = HistogramSnapshot(counts, vector[width], vector[width + 1], vector[width + 2])
            out.append((dict(key), snap, None))
        return out

    def statistics(self, family: Family) -> list[tuple[dict[str, Any], dict[str, float]]]:
        """Summary statistics from the merged distribution: quantiles estimated from its buckets."""
        out = []
        for attributes, snap, _ in self.distributions(family):

            def estimate(q: float, snap: HistogramSnapshot = snap) -> float:
                return bucket_quantile(q, family.bounds, snap.counts, snap.min, snap.max)

            stats = statistics(float(snap.count), snap.sum, snap.min, snap.max, family.quantiles, estimate)
            out.append((attributes, stats))
        return out
