"""Pre-fork multiprocess mode: every worker records into memory-mapped files; any worker can export the sum.

Each thread of each process writes its own file of doubles (``<pid>-<n>.cells``) through a memory map,
so recording stays lock-free and a killed worker loses nothing already recorded. ``<pid>.meta.jsonl``
describes the layout, ``<pid>.gauges`` holds gauge values. At collection the directory is aggregated;
files of processes that have exited are folded into ``archive.json`` under an exclusive lock first, so
the directory stays bounded however often workers are recycled.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import mmap
import os
import threading
import time
import weakref
from array import array
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._fork import after_fork_in_child
from ._instruments import INT64, Counter, Gauge, Histogram, HistogramSnapshot, _number, quantile_key
from ._quantile import bucket_quantile
from ._quantile import total as finite_total
from ._records import MetricType
from ._validation import LabelKey

if TYPE_CHECKING:
    from ._collector import MetricsCollector
    from ._family import Family

__all__ = ["GAUGE_MODES", "SharedCells", "SharedSource", "aggregate", "mark_process_dead", "shared_series"]

#: How gauges of live workers combine: their sum, max, min, the most recently written one, or one series per pid.
GAUGE_MODES = ("sum", "max", "min", "mostrecent", "perpid")
_DOUBLE = 8
_ARCHIVE = "archive.json"
_LOCK = ".lock"


@contextlib.contextmanager
def _locked(directory: Path, exclusive: bool) -> Iterator[None]:
    with open(directory / _LOCK, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _MappedFile:
    """A file of doubles mapped into memory, grown by remapping (old views stay valid)."""

    def __init__(self, path: Path, doubles: int) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.capacity = 0
        self.view: Any = memoryview(b"")  # a memoryview of doubles ("d")
        self.grow(doubles)

    def grow(self, doubles: int) -> None:
        if doubles <= self.capacity:
            return
        capacity = max(64, 1 << (doubles - 1).bit_length())
        os.ftruncate(self._fd, capacity * _DOUBLE)
        self.view = memoryview(mmap.mmap(self._fd, capacity * _DOUBLE)).cast("d")
        self.capacity = capacity


@dataclass
class _Region:
    """Where one series lives in the per-thread files: its offset, width and initial values."""

    offset: int
    width: int
    init: tuple[float, ...]
    meta: dict[str, Any] = field(default_factory=dict)


class SharedCells:
    """Per-thread memory-mapped slot files in a directory shared by all worker processes."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.local = threading.local()
        self._lock = threading.Lock()
        self._regions: list[_Region] = []
        self._size = 0
        self._gauge_meta: list[dict[str, Any]] = []
        self._threads: list[tuple[weakref.ref[threading.Thread], _MappedFile, list[Any]]] = []
        self._start(copy_gauges=None)
        after_fork_in_child(self, "_after_fork")

    def _start(self, copy_gauges: list[float] | None) -> None:
        self.pid = os.getpid()
        self._seq = 0
        self._meta_path = self.directory / f"{self.pid}.meta.jsonl"
        with open(self._meta_path, "w", encoding="utf-8") as meta:
            for region in self._regions:
                meta.write(json.dumps(region.meta) + "\n")
            for gauge in self._gauge_meta:
                meta.write(json.dumps(gauge) + "\n")
        self._gauges = _MappedFile(self.directory / f"{self.pid}.gauges", 2 * max(1, len(self._gauge_meta)))
        if copy_gauges:
            for i, value in enumerate(copy_gauges):
                self._gauges.view[i] = value

    def _after_fork(self) -> None:
        """In a forked child: new files under the child's pid; counts start at zero, gauges keep their values."""
        gauges = list(self._gauges.view[: 2 * len(self._gauge_meta)])
        self._lock = threading.Lock()
        self.local.__dict__.pop("cells", None)
        self._threads = []
        self._start(copy_gauges=gauges)

    # -- layout -------------------------------------------------------------------------------

    def _log(self, meta: dict[str, Any]) -> None:
        with open(self._meta_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(meta) + "\n")

    def add(self, width: int, init: tuple[float, ...], meta: dict[str, Any]) -> int:
        """Reserve ``width`` doubles for a new series in every thread's file; returns its slot."""
        with self._lock:
            meta = {**meta, "o": self._size, "w": width}
            self._regions.append(_Region(self._size, width, init, meta))
            self._size += width
            self._log(meta)
            return len(self._regions) - 1

    def add_gauge(self, meta: dict[str, Any]) -> int:
        """Reserve a gauge (value and write time) in this process's gauge file; returns its index."""
        with self._lock:
            index = len(self._gauge_meta)
            meta = {**meta, "g": index}
            self._gauge_meta.append(meta)
            self._gauges.grow(2 * (index + 1))
            self._log(meta)
            return index

    @property
    def gauges(self) -> Any:
        return self._gauges.view

    # -- per-thread files ---------------------------------------------------------------------

    def mine(self) -> list[Any]:
        """The calling thread's list of views (one per slot), creating or growing its file (slow path)."""
        try:
            cells: list[Any] = self.local.cells
        except AttributeError:
            cells = []
            with self._lock:
                self._seq += 1
                mapped = _MappedFile(self.directory / f"{self.pid}-{self._seq}.cells", max(self._size, 1))
                self._threads.append((weakref.ref(threading.current_thread()), mapped, cells))
            self.local.cells = cells
        else:
            mapped = next(m for _, m, c in self._threads if c is cells)
        if len(cells) < len(self._regions):
            with self._lock:
                regions = self._regions[len(cells) :]
                mapped.grow(self._size)
            view = mapped.view
            for region in regions:
                part = view[region.offset : region.offset + region.width]
                for i, value in enumerate(region.init):
                    part[i] = value
                cells.append(part)
        return cells

    def values(self, slot: int) -> list[Any]:
        """This process's views of one slot (one per thread that has its file)."""
        return [cells[slot] for _, _, cells in list(self._threads) if len(cells) > slot]

    def reap(self) -> None:
        """Fold the files of this process's ended threads into its base file (``<pid>-0.cells``)."""
        with self._lock:
            dead = [
                (ref, mapped, cells)
                for ref, mapped, cells in self._threads
                if (thread := ref()) is None or not thread.is_alive()
            ]
            if not dead:
                return
            regions = list(self._regions)
            size = self._size
        with _locked(self.directory, exclusive=True):
            base_path = self.directory / f"{self.pid}-0.cells"
            fresh = not base_path.exists()
            base = _MappedFile(base_path, max(size, 1))
            view = base.view
            if fresh:
                for region in regions:
                    for i, value in enumerate(region.init):
                        view[region.offset + i] = value
            for _, mapped, cells in dead:
                for region, part in zip(regions, cells):
                    _fold(view, region, part)
                with contextlib.suppress(FileNotFoundError):
                    mapped.path.unlink()
        with self._lock:
            self._threads = [t for t in self._threads if all(t[1] is not d[1] for d in dead)]


def _fold(view: Any, region: _Region, part: Any) -> None:
    """Add one thread's values of a region into the base file's view of it."""
    start, width = region.offset, region.width
    if width == 1:
        view[start] += part[0]
        return
    for i in range(width - 2):
        view[start + i] += part[i]
    view[start + width - 2] = min(view[start + width - 2], part[width - 2])
    view[start + width - 1] = max(view[start + width - 1], part[width - 1])


# -- series classes for multiprocess mode ------------------------------------------------------------


def _layout(kind: str, name: str, key: LabelKey, family: Family | MergedFamily) -> dict[str, Any]:
    """One meta line: what a region of the files holds (kind, metric, labels and the family's layout)."""
    mode = family.multiprocess_mode if hasattr(family, "multiprocess_mode") else family.mode
    return {
        "k": kind,
        "n": name,
        "l": [list(p) for p in key],
        "d": family.description,
        "u": family.unit,
        "b": list(family.bounds),
        "q": list(family.quantiles),
        "a": family.max_age,
        "m": mode,
    }


def _meta(family: Family, key: LabelKey, kind: str) -> dict[str, Any]:
    return _layout(kind, family.name, key, family)


class SharedCounter(Counter):
    """A counter whose per-thread cell is a one-double view of the thread's mapped file."""

    __slots__ = ()

    def __init__(self, family: Family, key: LabelKey, cells: SharedCells) -> None:
        super(Counter, self).__init__(family, key)
        self._cells = cells  # type: ignore[assignment]
        self._local = cells.local
        self._slot = cells.add(1, (0.0,), _meta(family, key, "counter"))

    def increment(self, amount: float = 1) -> None:
        if amount.__class__ is not int or not 0 <= amount < INT64:
            amount = self._checked(amount)
        try:
            self._local.cells[self._slot][0] += amount
        except (AttributeError, IndexError):
            self._cells.mine()[self._slot][0] += amount

    inc = increment

    def get_value(self) -> float:
        """This process's total (the exported value sums every worker)."""
        return float(sum(view[0] for view in self._cells.values(self._slot)))


class SharedHistogram(Histogram):
    """A histogram whose per-thread cell is a view of the thread's mapped file (same hot path)."""

    __slots__ = ()

    def __init__(self, family: Family, key: LabelKey, cells: SharedCells) -> None:
        super(Histogram, self).__init__(family, key)
        self._bounds = family.bounds
        self._width = len(family.bounds) + 1
        self._cells = cells  # type: ignore[assignment]
        self._local = cells.local
        self.exemplars = None
        init = (0.0,) * (self._width + 1) + (math.inf, -math.inf)
        self._slot = cells.add(self._width + 3, init, _meta(family, key, family.kind.value))


class SharedSummary(SharedHistogram):
    """A summary in multiprocess mode: its distribution is shared; its exact window is this process's."""

    __slots__ = ("_window",)

    def __init__(self, family: Family, key: LabelKey, cells: SharedCells) -> None:
        super().__init__(family, key, cells)
        self._window: deque[tuple[float, float]] = deque(maxlen=family.max_samples)

    def observe(self, value: float) -> None:
        super().observe(value)
        self._window.append((time.monotonic(), float(value)))

    def get_statistics(self) -> dict[str, float]:
        """Statistics of this process's window (the exported quantiles come from the merged distribution)."""
        cutoff = time.monotonic() - self._family.max_age
        values = sorted(v for t, v in list(self._window) if t >= cutoff)
        return _window_stats(values, self._family.quantiles)


def _window_stats(values: list[float], quantiles: tuple[float, ...]) -> dict[str, float]:
    from ._quantile import exact_quantile

    n = len(values)
    total = finite_total(values)
    stats = {
        "count": float(n),
        "sum": total,
        "mean": total / n if n else math.nan,
        "min": values[0] if n else math.nan,
        "max": values[-1] if n else math.nan,
    }
    for q in quantiles:
        stats[quantile_key(q)] = exact_quantile(values, q)
    return stats


class SharedGauge(Gauge):
    """A gauge stored in this process's gauge file (value and write time), combined per its mode."""

    __slots__ = ("_index", "_store")

    def __init__(self, family: Family, key: LabelKey, cells: SharedCells) -> None:
        super().__init__(family, key)
        self._store = cells
        self._index = 2 * cells.add_gauge(_meta(family, key, "gauge"))

    def _write(self, value: float) -> None:
        view = self._store.gauges
        view[self._index] = value
        view[self._index + 1] = time.time()

    def set(self, value: float, labels: Any = None) -> None:
        if labels:
            self._child(labels).set(value)
            return
        number = _number("gauge", self.name, "set", value)
        with self._lock:
            self._write(number)

    def increment(self, amount: float = 1, labels: Any = None) -> None:
        if labels:
            self._child(labels).increment(amount)
            return
        number = _number("gauge", self.name, "increment", amount)
        with self._lock:
            self._write(self._store.gauges[self._index] + number)

    inc = increment

    def decrement(self, amount: float = 1, labels: Any = None) -> None:
        if labels:
            self._child(labels).decrement(amount)
            return
        number = _number("gauge", self.name, "decrement", amount)
        with self._lock:
            self._write(self._store.gauges[self._index] - number)

    dec = decrement

    def get_value(self, labels: Any = None) -> float:
        if labels:
            return self._child(labels).get_value()
        return float(self._store.gauges[self._index])


def shared_series(family: Family, key: LabelKey, cells: SharedCells) -> Any:
    """The multiprocess series class for ``family``'s kind."""
    if family.kind is MetricType.COUNTER:
        return SharedCounter(family, key, cells)
    if family.kind is MetricType.GAUGE:
        return SharedGauge(family, key, cells)
    if family.kind is MetricType.HISTOGRAM:
        return SharedHistogram(family, key, cells)
    return SharedSummary(family, key, cells)


# -- aggregation -----------------------------------------------------------------------------------


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


def _read_doubles(path: Path) -> array[float]:
    data = array("d")
    with contextlib.suppress(FileNotFoundError):
        raw = path.read_bytes()
        data.frombytes(raw[: len(raw) - len(raw) % _DOUBLE])
    return data


def _read_meta(path: Path) -> list[dict[str, Any]]:
    entries = []
    with contextlib.suppress(FileNotFoundError), open(path, encoding="utf-8") as handle:
        for line in handle:
            with contextlib.suppress(json.JSONDecodeError):
                entries.append(json.loads(line))
    return entries


def _family_of(merged: dict[str, MergedFamily], meta: dict[str, Any]) -> MergedFamily:
    family = merged.get(meta["n"])
    if family is None:
        family = merged[meta["n"]] = MergedFamily(
            meta["k"],
            meta.get("d", ""),
            meta.get("u", ""),
            tuple(meta.get("b", ())),
            tuple(meta.get("q", ())),
            float(meta.get("a", 0.0)),
            meta.get("m", "sum"),
        )
    return family


def _add(merged: dict[str, MergedFamily], meta: dict[str, Any], vector: list[float]) -> None:
    family = _family_of(merged, meta)
    key: LabelKey = tuple((k, v) for k, v in meta["l"])
    current = family.series.get(key)
    if current is None:
        family.series[key] = list(vector)
        return
    width = len(vector)
    if family.kind == "counter":
        current[0] += vector[0]
        return
    for i in range(width - 2):
        current[i] += vector[i]
    current[width - 2] = min(current[width - 2], vector[width - 2])
    current[width - 1] = max(current[width - 1], vector[width - 1])


def _pids(directory: Path) -> list[int]:
    pids = []
    for path in directory.glob("*.meta.jsonl"):
        with contextlib.suppress(ValueError):
            pids.append(int(path.name.split(".", 1)[0]))
    return pids


def _pid_vectors(directory: Path, pid: int) -> Iterator[tuple[dict[str, Any], list[float]]]:
    meta = [m for m in _read_meta(directory / f"{pid}.meta.jsonl") if "o" in m]
    for path in directory.glob(f"{pid}-*.cells"):
        data = _read_doubles(path)
        for entry in meta:
            start, width = entry["o"], entry["w"]
            if start + width <= len(data):
                vector = list(data[start : start + width])
                if entry["k"] != "counter" and not any(vector[: width - 3]):
                    continue  # a thread that never observed this histogram
                yield entry, vector


def _pid_files(directory: Path, pid: int) -> list[Path]:
    return [*directory.glob(f"{pid}-*.cells"), directory / f"{pid}.gauges", directory / f"{pid}.meta.jsonl"]


def _load_archive(directory: Path) -> dict[str, Any]:
    try:
        archive: dict[str, Any] = json.loads((directory / _ARCHIVE).read_text(encoding="utf-8"))
        return archive
    except (FileNotFoundError, json.JSONDecodeError):
        return {"folded": [], "series": []}


def _write_archive(directory: Path, archive: dict[str, Any]) -> None:
    tmp = directory / f".{_ARCHIVE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(archive), encoding="utf-8")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    tmp.replace(directory / _ARCHIVE)


def _compact(directory: Path, dead: list[int]) -> None:
    """Fold dead workers' counters and distributions into the archive, then delete their files (lock held)."""
    archive = _load_archive(directory)
    folded = set(archive["folded"])
    totals: dict[str, MergedFamily] = {}
    for entry in archive["series"]:
        _add(totals, entry["meta"], entry["vector"])
    new = [pid for pid in dead if pid not in folded]
    for pid in new:
        for meta, vector in _pid_vectors(directory, pid):
            _add(totals, meta, vector)
    if new:
        series = []
        for name, family in totals.items():
            for key, vector in family.series.items():
                meta = _layout(family.kind, name, key, family)
                series.append({"meta": meta, "vector": vector})
        archive = {"folded": sorted(folded | set(new)), "series": series}
        _write_archive(directory, archive)  # durable before any file is deleted
    for pid in dead:
        for path in _pid_files(directory, pid):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    remaining = set(_pids(directory))
    if set(archive["folded"]) - remaining:
        archive["folded"] = sorted(set(archive["folded"]) & remaining)
        _write_archive(directory, archive)


def mark_process_dead(pid: int, directory: str | os.PathLike[str]) -> None:
    """Fold an exited worker's files into the archive now (call it from gunicorn's ``child_exit`` hook)."""
    path = Path(directory)
    with _locked(path, exclusive=True):
        _compact(path, [pid])


def aggregate(directory: str | os.PathLike[str]) -> dict[str, MergedFamily]:
    """Every metric summed across live and exited workers (gauges: live workers only, per their mode)."""
    path = Path(directory)
    dead = [pid for pid in _pids(path) if not _alive(pid)]
    if dead:
        with _locked(path, exclusive=True):
            _compact(path, dead)
    merged: dict[str, MergedFamily] = {}
    gauges: dict[tuple[str, LabelKey], list[tuple[float, float, int]]] = {}
    with _locked(path, exclusive=False):
        archive = _load_archive(path)
        folded = set(archive["folded"])
        for entry in archive["series"]:
            _add(merged, entry["meta"], entry["vector"])
        for pid in _pids(path):
            if pid in folded:
                continue
            metas = _read_meta(path / f"{pid}.meta.jsonl")
            for meta in metas:
                _family_of(merged, meta)  # known even before any value arrives
            for meta, vector in _pid_vectors(path, pid):
                _add(merged, meta, vector)
            values = _read_doubles(path / f"{pid}.gauges")
            for meta in metas:
                if "g" in meta and 2 * meta["g"] + 1 < len(values):
                    key = tuple((k, v) for k, v in meta["l"])
                    gauges.setdefault((meta["n"], key), []).append(
                        (values[2 * meta["g"]], values[2 * meta["g"] + 1], pid)
                    )
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


class SharedSource:
    """Exported values aggregated from the multiprocess directory (computed once per collection)."""

    def __init__(self, directory: Path, collector: MetricsCollector) -> None:
        self._directory = directory
        self._collector = collector
        self._merged: dict[str, MergedFamily] = {}

    def begin(self) -> None:
        self._merged = aggregate(self._directory)
        self._collector._adopt(self._merged)

    def _series(self, family: Family) -> dict[LabelKey, Any]:
        merged = self._merged.get(family.name)
        return merged.series if merged is not None else {}

    def values(self, family: Family) -> list[tuple[dict[str, Any], float]]:
        return [(dict(key), vector[0]) for key, vector in self._series(family).items()]

    def distributions(self, family: Family) -> list[tuple[dict[str, Any], HistogramSnapshot, None]]:
        out = []
        width = len(family.bounds) + 1
        for key, vector in self._series(family).items():
            out.append(
                (
                    dict(key),
                    HistogramSnapshot(
                        list(map(int, vector[:width])), vector[width], vector[width + 1], vector[width + 2]
                    ),
                    None,
                )
            )
        return out

    def statistics(self, family: Family) -> list[tuple[dict[str, Any], dict[str, float]]]:
        """Summary statistics from the merged distribution: quantiles estimated from its buckets."""
        out = []
        for attributes, snap, _ in self.distributions(family):
            count = snap.count
            stats = {
                "count": float(count),
                "sum": snap.sum,
                "mean": snap.sum / count if count else math.nan,
                "min": snap.min if count else math.nan,
                "max": snap.max if count else math.nan,
            }
            for q in family.quantiles:
                stats[quantile_key(q)] = bucket_quantile(q, family.bounds, snap.counts, snap.min, snap.max)
            out.append((attributes, stats))
        return out
