"""Reading and writing a multiprocess directory's files (meta lines, thread files, gauges, archive, lock).

Nothing read here is trusted: a line, file or archive entry of the wrong shape, or a file that cannot be
opened, is skipped, counted and logged once (see ``_multiprocess_problems``); the rest is returned exactly.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._layout import (
    DOUBLE,
    index,
    valid_doubles,
    valid_meta,
    valid_vector,
)
from ._problems import Problems

__all__ = ["ARCHIVE", "Reader", "alive", "locked"]

ARCHIVE = "archive.json"
_LOCK = ".lock"
_MAX_PID = 1 << 22  # Linux's largest pid_max
#: The most a meta file or the archive may hold before it is skipped as not this library's (a worker's meta lines
#: take ~300 B per series; the archive about as much per folded series): junk never fills the memory.
MAX_TEXT_BYTES = 256 * 2**20
#: OS errors that may pass (too many open files, no memory): a dead worker's files are kept, not folded, then.
#: Per meta file: (the complete lines already parsed, their valid entries, the next line's number).
_METAS: dict[str, tuple[bytes, list[dict[str, Any]], int]] = {}
_TRANSIENT = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EAGAIN, errno.EINTR, errno.EIO})


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


def read_regular(path: Path, cap: int, *, truncate: bool = False) -> bytes:
    """The bytes of a regular file, at most ``cap`` of them; OSError for anything else.

    Opened without blocking and checked before reading, so a FIFO never hangs a scrape and a device such as
    ``/dev/zero`` is never read; a regular file over ``cap`` is refused (EFBIG), or cut at ``cap`` with ``truncate``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if info.st_size > cap and not truncate:
            raise OSError(errno.EFBIG, f"over {cap} bytes: not a file this library writes", str(path))
        chunks, left = [], min(info.st_size, cap)
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class _Archive:
    folded: set[int]
    series: list[tuple[dict[str, Any], list[float]]]
    kept: list[Any]  # entries of the wrong shape, written back verbatim so nothing is thrown away
    readable: bool = True
    failed: bool = False  # a passing OS error: try again later, change nothing


class Reader:
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
            data = read_regular(path, MAX_TEXT_BYTES)
        except FileNotFoundError:
            return []
        except OSError as exc:
            self._failed(path, pid, exc)
            return []
        end = data.rfind(b"\n") + 1
        if finished and end < len(data):
            self._unreadable(("meta", path.name, "end"), f"{path} ends in a cut line (truncated); that line is skipped")
        # Meta files only grow: the lines parsed at an earlier scrape are reused while the file starts with them.
        seen, entries, first = _METAS.get(str(path), (b"", [], 1))
        if not data.startswith(seen):
            seen, entries, first = b"", [], 1
        entries = list(entries)
        lines = data[len(seen) : end].split(b"\n")[:-1]
        if len(_METAS) > 4096:
            _METAS.clear()
        _METAS[str(path)] = (data[:end], entries, first + len(lines))
        for number, line in enumerate(lines, first):
            if not line.strip():
                continue
            try:
                meta = valid_meta(json.loads(line))
            except (ValueError, RecursionError):
                meta = None
            if meta is None:
                self._unreadable(("meta", path.name, number), f"{path} line {number} is not a metric layout; skipped")
            else:
                entries.append(meta)
        return list(entries)

    def doubles(self, path: Path, pid: int, limit: int) -> array[float] | None:
        """The first ``limit`` doubles of a file (fewer if it is shorter), or None if it cannot be read."""
        data = array("d")
        try:
            raw = read_regular(path, limit * DOUBLE, truncate=True)  # a meta line may lie about the size
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
                vector = data[start : start + width].tolist()
                if entry["k"] != "counter" and not any(vector[: width - 3]):
                    continue  # a thread that never observed this distribution
                if not valid_doubles(entry["k"], width, vector):
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
        path = self.directory / ARCHIVE
        try:
            raw = json.loads(read_regular(path, MAX_TEXT_BYTES))
        except FileNotFoundError:
            return _Archive(set(), [], [])
        except OSError as exc:
            self._failed(path, None, exc)
            return _Archive(set(), [], [], readable=False, failed=exc.errno in _TRANSIENT)
        except (ValueError, RecursionError):
            raw = None
        folded, series = (raw.get("folded"), raw.get("series")) if isinstance(raw, dict) else (None, None)
        if not (isinstance(folded, list) and all(index(p) for p in folded) and isinstance(series, list)):
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
            meta = valid_meta(raw_meta)
            if meta is None or "o" not in meta or not valid_vector(meta["k"], meta["w"], vector):
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
        path = self.directory / ARCHIVE
        with contextlib.suppress(FileNotFoundError):
            path.replace(self.directory / f"{ARCHIVE}.unreadable-{time.time_ns()}")

    def write_archive(self, archive: dict[str, Any]) -> bool:
        """Write the archive durably (fsync, then rename over the old one); False (reported) if that failed."""
        tmp = self.directory / f".{ARCHIVE}.{os.getpid()}.tmp"
        self._remove_stale_temporaries()
        try:
            with open(tmp, "wb") as handle:
                handle.write(json.dumps(archive).encode())
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(self.directory / ARCHIVE)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            self.problems.report("file", ("archive", exc.errno), f"cannot write {self.directory / ARCHIVE}: {exc}")
            return False
        return True

    def _remove_stale_temporaries(self) -> None:
        """Delete archive temporaries whose writer died mid-write (SIGKILL): nothing else would ever remove them."""
        with contextlib.suppress(OSError):
            for name in os.listdir(self.directory):
                pid = name[len(f".{ARCHIVE}.") : -len(".tmp")]
                if name.startswith(f".{ARCHIVE}.") and name.endswith(".tmp") and pid.isdigit() and not alive(int(pid)):
                    with contextlib.suppress(OSError):
                        (self.directory / name).unlink()

    def remove(self, pid: int) -> None:
        """Delete a folded worker's files (its meta file last, so a half-removed worker is never re-read)."""
        try:
            cells = list(self.directory.glob(f"{pid}-*.cells"))
        except OSError:
            cells = []
        _METAS.pop(str(self.directory / f"{pid}.meta.jsonl"), None)
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
