"""Reading a multiprocess directory: validate, aggregate across workers, fold exited workers into the archive.

Nothing read here is trusted: a line, file or archive entry of the wrong shape, a file that cannot be opened,
or a metric whose kind or buckets differ from the winning definition is skipped, counted and logged once
(see ``_multiprocess_problems``); every readable value is still summed exactly.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import json
import math
import os
import time
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._multiprocess_problems import Problems, problems_for
from ._validation import LabelKey, check_buckets, check_name, check_quantiles

__all__ = ["GAUGE_MODES", "MergedFamily", "aggregate", "layout", "locked", "mark_process_dead", "signature"]

#: How gauges of live workers combine: their sum, max, min, the most recently written one, or one series per pid.
GAUGE_MODES = ("sum", "max", "min", "mostrecent", "perpid")
DOUBLE = 8
_ARCHIVE = "archive.json"
_LOCK = ".lock"
_KINDS = ("counter", "gauge", "histogram", "summary")
_MAX_PID = 1 << 22  # Linux's largest pid_max
#: OS errors that may pass (too many open files, no memory): a dead worker's files are kept, not folded, then.
_TRANSIENT = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EAGAIN, errno.EINTR, errno.EIO})
Signature = tuple[str, tuple[float, ...]]


@contextlib.contextmanager
def locked(directory: Path, exclusive: bool, problems: Problems) -> Iterator[bool]:
    """Hold the directory's lock; yields False (and reports) when the lock file cannot be opened or locked."""
    try:
        handle = open(directory / _LOCK, "a+b")  # noqa: SIM115 - closed below on every path
    except OSError as exc:
        problems.report("file", ("lock", exc.errno), f"cannot open the lock file {directory / _LOCK}: {exc}")
        yield False
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        except OSError as exc:
            problems.report("file", ("flock", exc.errno), f"cannot lock {directory / _LOCK}: {exc}")
            yield False
            return
        try:
            yield True
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(handle, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signature(kind: str, bounds: tuple[float, ...]) -> Signature:
    """What must match for two workers' values of a metric to be summed: its kind and bucket bounds."""
    return (kind, bounds if kind in ("histogram", "summary") else ())


def _describe(sig: Signature) -> str:
    return f"{sig[0]} with buckets {list(sig[1])}" if sig[1] else sig[0]


def width_of(kind: str, bounds: tuple[float, ...]) -> int:
    """Doubles per series: a counter's value, or a distribution's buckets, sum, count, min and max."""
    return 1 if kind == "counter" else len(bounds) + 4


def layout(kind: str, name: str, key: LabelKey, family: Any) -> dict[str, Any]:
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


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _valid_meta(raw: object) -> dict[str, Any] | None:
    """``raw`` normalised (bounds and labels as tuples) if it is a well-formed meta line, else None."""
    if not isinstance(raw, dict):
        return None
    bounds, quantiles, pairs = raw.get("b", []), raw.get("q", []), raw.get("l", [])
    if not isinstance(bounds, list) or not isinstance(quantiles, list) or not isinstance(pairs, list):
        return None
    parts = (raw.get("k"), raw.get("n"), raw.get("d", ""), raw.get("u", ""), raw.get("a", 0.0), raw.get("m", "sum"))
    try:
        family = _family_layout(*parts, tuple(bounds), tuple(quantiles))
    except TypeError:  # unhashable parts: not a layout
        return None
    if family is None or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) and s for s in p) for p in pairs
    ):
        return None
    kind, (bounds, quantiles) = str(parts[0]), family
    region, gauge = raw.get("o"), raw.get("g")
    if kind == "gauge":
        ok = region is None and _index(gauge)
    else:
        ok = gauge is None and _index(region) and raw.get("w") == width_of(kind, bounds)
    normal = {"l": tuple(tuple(p) for p in pairs), "b": bounds, "q": quantiles, "d": parts[2], "u": parts[3]}
    return {**raw, **normal} if ok else None


@functools.lru_cache(maxsize=4096)
def _family_layout(
    kind: object,
    name: object,
    description: object,
    unit: object,
    max_age: object,
    mode: object,
    *lists: tuple[Any, ...],
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """A metric's validated bounds and quantiles, or None if its layout is unusable (cached: shared by its series)."""
    bounds, quantiles = lists
    if kind not in _KINDS or not isinstance(description, str) or not isinstance(unit, str) or mode not in GAUGE_MODES:
        return None
    if not isinstance(max_age, (int, float)) or isinstance(max_age, bool) or not 0 <= max_age < math.inf:
        return None
    try:
        check_name(name, str(kind))
        checked = check_buckets(str(name), bounds) if kind in ("histogram", "summary") else ()
        quantiles = check_quantiles(str(name), quantiles) if quantiles else ()
    except (ValueError, TypeError):
        return None
    return (checked, quantiles) if checked == bounds else None


def _index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 40


def _valid_vector(kind: str, width: int, vector: object) -> bool:
    """A counter value or a distribution (whole non-negative counts, a sum, min and max) of the right width."""
    if not isinstance(vector, list) or len(vector) != width or not all(_number(v) for v in vector):
        return False
    try:
        if any(math.isnan(v) for v in vector):
            return False
    except OverflowError:  # an int too large for a double
        return False
    if kind == "counter":
        return bool(vector[0] >= 0)
    return all(math.isfinite(c) and c >= 0 and c == int(c) for c in vector[: width - 3])


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

    @classmethod
    def of(cls, meta: dict[str, Any]) -> MergedFamily:
        return cls(
            meta["k"], meta["d"], meta["u"], meta["b"], meta["q"], float(meta.get("a", 0.0)), meta.get("m", "sum")
        )

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
        for i in range(width - 2):
            current[i] += vector[i]
        current[width - 2] = min(current[width - 2], vector[width - 2])
        current[width - 1] = max(current[width - 1], vector[width - 1])


@dataclass
class _Archive:
    folded: set[int]
    series: list[tuple[dict[str, Any], list[float]]]
    kept: list[Any]  # entries of the wrong shape, written back verbatim so nothing is thrown away
    readable: bool = True
    failed: bool = False  # a passing OS error: try again later, change nothing


class _Reader:
    """Reads one directory's files, reporting (once) whatever cannot be read instead of raising."""

    def __init__(self, directory: Path, problems: Problems) -> None:
        self.directory = directory
        self.problems = problems
        self.transient: set[int] = set()  # pids whose files hit a passing OS error: not folded this time

    def _unreadable(self, key: Any, message: str) -> None:
        self.problems.report("unreadable", key, message)

    def _failed(self, path: Path, pid: int | None, exc: OSError) -> None:
        if exc.errno in _TRANSIENT and pid is not None:
            self.transient.add(pid)
        self._unreadable(("open", path.name, exc.errno), f"cannot read {path}: {exc}; skipped")

    def pids(self) -> list[int]:
        """Workers with a meta file, in pid order."""
        pids = []
        try:
            names = os.listdir(self.directory)
        except OSError as exc:
            self._failed(self.directory, None, exc)
            return []
        for name in names:
            if name.endswith(".meta.jsonl"):
                head = name.split(".", 1)[0]
                if head.isdigit() and 0 < int(head) < _MAX_PID:
                    pids.append(int(head))
                else:
                    self._unreadable(("name", name), f"{self.directory / name}: not a worker's meta file; ignored")
        return sorted(pids)

    def metas(self, pid: int, finished: bool) -> list[dict[str, Any]]:
        """A worker's valid meta lines; a last line without its newline is skipped (quietly while it may be written)."""
        path = self.directory / f"{pid}.meta.jsonl"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            self._failed(path, pid, exc)
            return []
        lines = data.split(b"\n")
        if finished and lines[-1]:
            self._unreadable(("meta", path.name, "end"), f"{path} ends in a cut line (truncated); that line is skipped")
        entries = []
        for number, line in enumerate(lines[:-1], 1):
            if not line.strip():
                continue
            try:
                meta = _valid_meta(json.loads(line))
            except (ValueError, RecursionError):
                meta = None
            if meta is None:
                self._unreadable(("meta", path.name, number), f"{path} line {number} is not a metric layout; skipped")
            else:
                entries.append(meta)
        return entries

    def doubles(self, path: Path, pid: int, limit: int) -> array[float] | None:
        """The first ``limit`` doubles of a file (fewer if it is shorter), or None if it cannot be read."""
        data = array("d")
        try:
            with open(path, "rb") as handle:
                raw = handle.read(min(limit * DOUBLE, os.fstat(handle.fileno()).st_size))  # a meta line may lie
        except FileNotFoundError:
            return data
        except OSError as exc:
            self._failed(path, pid, exc)
            return None
        if len(raw) % DOUBLE and len(raw) < limit * DOUBLE:  # files are written whole pages at a time
            self._unreadable(("cut", path.name), f"{path} ends mid-value (truncated); its last value is skipped")
        data.frombytes(raw[: len(raw) - len(raw) % DOUBLE])
        return data

    def vectors(self, pid: int, metas: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], list[float]]]:
        """Each thread file's value of each region (histograms a thread never observed left out)."""
        regions = [m for m in metas if "o" in m]
        if not regions:
            return
        limit = max(m["o"] + m["w"] for m in regions)
        try:
            paths = sorted(self.directory.glob(f"{pid}-*.cells"))
        except OSError as exc:
            self._failed(self.directory, pid, exc)
            return
        for path in paths:
            data = self.doubles(path, pid, limit)
            if data is None:
                continue
            for entry in regions:
                start, width = entry["o"], entry["w"]
                if start + width > len(data):
                    continue  # the thread's file has not grown to this series yet
                vector = list(data[start : start + width])
                if entry["k"] != "counter" and not any(vector[: width - 3]):
                    continue  # a thread that never observed this distribution
                if not _valid_vector(entry["k"], width, vector):
                    self._unreadable(
                        ("value", path.name, start), f"{path} holds no valid {entry['k']} at offset {start}; skipped"
                    )
                    continue
                yield entry, vector

    def gauges(self, pid: int, metas: list[dict[str, Any]]) -> list[tuple[dict[str, Any], float, float]]:
        """A worker's gauges: (meta, value, time written)."""
        entries = [m for m in metas if "g" in m]
        if not entries:
            return []
        values = self.doubles(self.directory / f"{pid}.gauges", pid, 2 * max(m["g"] for m in entries) + 2)
        if values is None:
            return []
        return [(m, values[2 * m["g"]], values[2 * m["g"] + 1]) for m in entries if 2 * m["g"] + 1 < len(values)]

    def archive(self) -> _Archive:
        """The folded workers and their totals; entries of the wrong shape are skipped (and kept when rewritten)."""
        path = self.directory / _ARCHIVE
        try:
            raw = json.loads(path.read_bytes())
        except FileNotFoundError:
            return _Archive(set(), [], [])
        except OSError as exc:
            self._failed(path, None, exc)
            return _Archive(set(), [], [], readable=False, failed=exc.errno in _TRANSIENT)
        except (ValueError, RecursionError):
            raw = None
        folded, series = (raw.get("folded"), raw.get("series")) if isinstance(raw, dict) else (None, None)
        if not (isinstance(folded, list) and all(_index(p) for p in folded) and isinstance(series, list)):
            self._unreadable(
                ("archive", _stamp(path)),
                f"{path} is not an archive ({{'folded': [pids], 'series': [...]}}); its totals are skipped",
            )
            return _Archive(set(), [], [], readable=False)
        good, kept = [], []
        for number, entry in enumerate(series):
            raw_meta = entry.get("meta") if isinstance(entry, dict) else None
            vector = entry.get("vector") if isinstance(raw_meta, dict) else None
            if isinstance(raw_meta, dict) and isinstance(vector, list):  # older archives have no o/w
                raw_meta = {"o": 0, "w": len(vector), **raw_meta}
            meta = _valid_meta(raw_meta)
            if meta is None or "o" not in meta or not _valid_vector(meta["k"], meta["w"], vector):
                self._unreadable(
                    ("archive entry", hash(json.dumps(entry, sort_keys=True))),
                    f"{path} entry {number} is not a series total; skipped",
                )
                kept.append(entry)
            else:
                good.append((meta, list(vector)))  # type: ignore[arg-type]
        return _Archive(set(folded), good, kept)

    def set_aside(self) -> None:
        """Rename an unreadable archive out of the way (kept for inspection) so folding can go on."""
        path = self.directory / _ARCHIVE
        with contextlib.suppress(FileNotFoundError):
            path.replace(self.directory / f"{_ARCHIVE}.unreadable-{time.time_ns()}")

    def write_archive(self, archive: dict[str, Any]) -> bool:
        """Write the archive durably (fsync, then rename over the old one); False (reported) if that failed."""
        tmp = self.directory / f".{_ARCHIVE}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as handle:
                handle.write(json.dumps(archive).encode())
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(self.directory / _ARCHIVE)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            self.problems.report("file", ("archive", exc.errno), f"cannot write {self.directory / _ARCHIVE}: {exc}")
            return False
        return True

    def remove(self, pid: int) -> None:
        """Delete a folded worker's files (its meta file last, so a half-removed worker is never re-read)."""
        try:
            cells = list(self.directory.glob(f"{pid}-*.cells"))
        except OSError:
            cells = []
        for path in [*cells, self.directory / f"{pid}.gauges", self.directory / f"{pid}.meta.jsonl"]:
            try:
                path.unlink()
            except (FileNotFoundError, IsADirectoryError):
                pass  # a directory where a file should be was reported when it could not be read
            except OSError as exc:
                self.problems.report("file", ("unlink", path.name), f"cannot remove {path}: {exc}")


def _stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError:
        return (0, 0)
    return (info.st_size, info.st_mtime_ns)


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


def _compact(reader: _Reader, dead: list[int]) -> None:
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
            _compact(_Reader(path, problems), [pid])


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
    reader = _Reader(path, problems)
    dead = [pid for pid in reader.pids() if not _alive(pid)]
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

    def accepted(meta: dict[str, Any], pid: int | None) -> MergedFamily | None:
        name, sig = meta["n"], signature(meta["k"], meta["b"])
        if sig != winners[name]:
            where = f"worker {pid}" if pid is not None else str(path / _ARCHIVE)
            problems.report(
                "conflict",
                ("conflict", name, sig),
                f"metric {name!r} is a {_describe(winners[name])}, but {where} recorded it as a "
                f"{_describe(sig)}; those values are skipped",
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
    return [(key, math.fsum(v for v, _, _ in found))]
