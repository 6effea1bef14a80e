"""Aggregating a multiprocess directory: sum every worker, fold exited workers into the archive.

A metric's definition is the calling worker's own, else a live worker's, else an exited worker's, else the
archive's; values recorded under another kind or bucket layout are skipped and reported, never summed into
the wrong shape. Folding keeps conflicting definitions apart in the archive, so nothing is deleted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._engine.expo import merge_expo_cells
from .._model.quantile import total as finite_total
from .._model.validation import LabelKey
from ._expo import EXPONENTIAL
from ._files import ARCHIVE, Reader, alive, locked
from ._layout import Signature, describe, layout, signature
from ._problems import Problems, problems_for

__all__ = ["MergedFamily", "aggregate", "mark_process_dead"]


@dataclass
class MergedFamily:
    """One metric summed across workers: kind, layout and value per label set."""

    kind: str
    description: str
    unit: str
    bounds: tuple[float, ...]
    quantiles: tuple[float, ...]
    max_age: float
    mode: str
    series: dict[LabelKey, Any] = field(default_factory=dict)
    scope: tuple[str, str | None, str | None] | None = None  # the defining worker's collector.meter(...) scope

    @classmethod
    def of(cls, meta: dict[str, Any]) -> MergedFamily:
        merged = cls(
            meta["k"], meta["d"], meta["u"], meta["b"], meta["q"], float(meta.get("a", 0.0)), meta.get("m", "sum")
        )
        merged.scope = meta.get("s")
        return merged

    def add(self, key: LabelKey, vector: list[float]) -> None:
        """Sum ``vector`` into the series ``key`` (counts and sums added, min and max kept)."""
        current = self.series.get(key)
        if current is None:
            self.series[key] = list(vector)
            return
        width = len(vector)
        if self.kind == "counter":
            current[0] += vector[0]
            return
        if self.kind == EXPONENTIAL:
            self.series[key] = merge_expo_cells(current, vector)
            return
        for i in range(width - 2):
            current[i] += vector[i]
        current[width - 2] = min(current[width - 2], vector[width - 2])
        current[width - 1] = max(current[width - 1], vector[width - 1])


def _totals(series: list[tuple[dict[str, Any], list[float]]]) -> dict[tuple[str, Signature], MergedFamily]:
    """Series totals keyed by metric and layout, so conflicting definitions are both kept in the archive."""
    totals: dict[tuple[str, Signature], MergedFamily] = {}
    for meta, vector in series:
        ident = (meta["n"], signature(meta["k"], meta["b"]))
        family = totals.get(ident)
        if family is None:
            family = totals[ident] = MergedFamily.of(meta)
        family.add(meta["l"], vector)
    return totals


def _compact(reader: Reader, dead: list[int]) -> None:
    """Fold dead workers' counters and distributions into the archive, then delete their files (lock held)."""
    archive = reader.archive()
    if archive.failed:
        return
    if not archive.readable:
        reader.set_aside()
    series = list(archive.series)
    new = []
    for pid in dead:
        if pid not in archive.folded:
            found = list(reader.vectors(pid, reader.metas(pid, finished=True)))
            if pid not in reader.transient:  # a passing OS error: fold this worker next time, whole
                series.extend(found)
                new.append(pid)
    folded = archive.folded | set(new)
    entries = [
        {"meta": layout(family.kind, name, key, family) | {"o": 0, "w": len(vector)}, "vector": vector}
        for (name, _), family in _totals(series).items()
        for key, vector in family.series.items()
    ] + archive.kept
    if new and not reader.write_archive({"folded": sorted(folded), "series": entries}):
        return  # not durable: delete nothing, the workers' files are read directly until it works
    for pid in dead:
        if pid in folded:
            reader.remove(pid)
    remaining = folded & set(reader.pids())
    if remaining != folded:  # workers whose files are gone need no entry any more
        reader.write_archive({"folded": sorted(remaining), "series": entries})


def mark_process_dead(pid: int, directory: str | os.PathLike[str]) -> None:
    """Fold an exited worker's files into the archive now (call it from gunicorn's ``child_exit`` hook)."""
    path = Path(directory)
    problems = problems_for(path)
    with locked(path, True, problems) as ok:
        if ok:
            _compact(Reader(path, problems), [pid])


@dataclass
class _Source:
    """One place values come from: a worker (live or not yet folded) or the archive."""

    metas: list[dict[str, Any]]
    vectors: list[tuple[dict[str, Any], list[float]]]
    gauges: list[tuple[dict[str, Any], float, float]]
    pid: int | None


def aggregate(directory: str | os.PathLike[str], expected: Mapping[str, Signature] | None = None) -> dict[str, Any]:
    """Every metric summed across live and exited workers (gauges: live workers only, per their mode).

    A metric's definition is the first of: ``expected`` (the calling worker's own), a live worker's, an exited
    worker's, the archive's; values recorded under another kind or bucket layout are skipped and reported.
    """
    path = Path(directory)
    problems = problems_for(path)
    reader = Reader(path, problems)
    dead = [pid for pid in reader.pids() if not alive(pid)]
    if dead:
        with locked(path, True, problems) as ok:
            if ok:
                _compact(reader, dead)
    with locked(path, False, problems):
        archive = reader.archive()
        sources = []
        for pid in sorted(reader.pids(), key=lambda p: p in dead):  # live workers first
            if pid not in archive.folded:
                metas = reader.metas(pid, finished=pid in dead)
                sources.append(_Source(metas, list(reader.vectors(pid, metas)), reader.gauges(pid, metas), pid))
    sources.append(_Source([m for m, _ in archive.series], archive.series, [], None))
    winners: dict[str, Signature] = dict(expected or {})
    for source in sources:
        for meta in source.metas:
            winners.setdefault(meta["n"], signature(meta["k"], meta["b"]))
    return _merge(sources, winners, problems, path)


def _merge(
    sources: list[_Source], winners: dict[str, Signature], problems: Problems, path: Path
) -> dict[str, MergedFamily]:
    merged: dict[str, MergedFamily] = {}
    known: dict[tuple[str, str, int, int | None], MergedFamily | None] = {}

    def accepted(meta: dict[str, Any], pid: int | None) -> MergedFamily | None:
        """The family ``meta``'s values go to (None: a conflicting layout), once per metric, layout and worker."""
        ident = (meta["n"], meta["k"], id(meta["b"]), pid)  # a metric's series share one bounds tuple
        try:
            return known[ident]
        except KeyError:
            found = known[ident] = _accept(meta, pid)
            return found

    def _accept(meta: dict[str, Any], pid: int | None) -> MergedFamily | None:
        name, sig = meta["n"], signature(meta["k"], meta["b"])
        if sig != winners[name]:
            where = f"worker {pid}" if pid is not None else str(path / ARCHIVE)
            problems.report(
                "conflict",
                ("conflict", name, sig),
                f"metric {name!r} is a {describe(winners[name])}, but {where} recorded it as a "
                f"{describe(sig)}; those values are skipped",
            )
            return None
        family = merged.get(name)
        if family is None:
            family = merged[name] = MergedFamily.of(meta)
        return family

    gauges: dict[tuple[str, LabelKey], list[tuple[float, float, int]]] = {}
    for source in sources:
        for meta in source.metas:
            accepted(meta, source.pid)  # known even before any value arrives
        for meta, vector in source.vectors:
            family = accepted(meta, source.pid)
            if family is not None:
                family.add(meta["l"], vector)
        for meta, value, written in source.gauges:
            if accepted(meta, source.pid) is not None and source.pid is not None:
                gauges.setdefault((meta["n"], meta["l"]), []).append((value, written, source.pid))
    for (name, key), found in gauges.items():
        family = merged[name]
        for label_key, value in _combine(family.mode, key, found):
            family.series[label_key] = [value]
    return merged


def _combine(mode: str, key: LabelKey, found: list[tuple[float, float, int]]) -> list[tuple[LabelKey, float]]:
    if mode == "max":
        return [(key, max(v for v, _, _ in found))]
    if mode == "min":
        return [(key, min(v for v, _, _ in found))]
    if mode == "mostrecent":
        return [(key, max(found, key=lambda item: item[1])[0])]
    if mode == "perpid":
        return [((*key, ("pid", str(pid))), v) for v, _, pid in found]
    return [(key, finite_total(v for v, _, _ in found))]
