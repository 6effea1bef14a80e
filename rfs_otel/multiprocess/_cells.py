"""Per-thread memory-mapped files of doubles: the lock-free recording side of multiprocess mode.

Each thread of each process writes its own file (``<pid>-<n>.cells``) through a memory map. File
descriptors are closed as soon as a file is mapped, and a thread that has ended hands its file to the
next new thread, so descriptors stay constant and mappings stay bounded by the threads alive at once.
Recording never raises on an OS error: a thread whose file cannot be created or grown keeps those values
in process memory, and collections in this process add them to its base file (``<pid>-0.cells``).
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._util.fork import after_fork_in_child
from ._expo import EXPONENTIAL, fold_expo, unflushed_expo
from ._files import locked
from ._mmap import Mapped, Memory
from ._problems import problems_for

__all__ = ["SharedCells"]


@dataclass
class _Region:
    """Where one series lives in the per-thread files: its offset, width and initial values."""

    offset: int
    width: int
    init: tuple[float, ...]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class _Slots:
    """One thread's views (one per series), in its mapped file or, if that failed, in process memory."""

    owner: weakref.ref[threading.Thread]
    file: Mapped | None
    cells: list[Any] = field(default_factory=list)
    #: Series whose values are in process memory: what has been added to the base file so far.
    memory: dict[int, array[float]] = field(default_factory=dict)

    def ended(self) -> bool:
        thread = self.owner()
        return thread is None or not thread.is_alive()


def _fold(view: Any, region: _Region, part: Any, flushed: array[float] | None = None) -> None:
    """Add one thread's values of a region (less what was added before) into the base file's view of it."""
    start, width = region.offset, region.width
    if region.meta.get("k") == EXPONENTIAL:  # rescaling cells merge, they do not add
        fold_expo(view, start, width, part, flushed)
        return
    sums = 1 if width == 1 else width - 2
    for i in range(sums):
        value = part[i]
        if flushed is None:
            view[start + i] += value
        else:
            view[start + i] += value - flushed[i]
            flushed[i] = value
    if width > 1:
        view[start + width - 2] = min(view[start + width - 2], part[width - 2])
        view[start + width - 1] = max(view[start + width - 1], part[width - 1])


def _unflushed(part: Any, flushed: array[float]) -> list[float]:
    width = len(part)
    sums = 1 if width == 1 else width - 2
    return [part[i] - flushed[i] for i in range(sums)] + [part[i] for i in range(sums, width)]


class SharedCells:
    """Per-thread memory-mapped slot files in a directory shared by all worker processes."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.problems = problems_for(self.directory)
        self.local = threading.local()
        self._lock = threading.Lock()
        self._regions: list[_Region] = []
        self._size = 0
        self._gauge_meta: list[dict[str, Any]] = []
        self._threads: list[_Slots] = []
        self._deferred: list[tuple[object, str]] = []
        self._start(copy_gauges=[])
        after_fork_in_child(self, "_after_fork")

    def _start(self, copy_gauges: list[float]) -> None:
        self.pid = os.getpid()
        self._seq = 0
        self._meta_path = self.directory / f"{self.pid}.meta.jsonl"
        self._pending = [region.meta for region in self._regions] + list(self._gauge_meta)
        self._meta_fresh = True  # the meta file still has to be (re)created empty
        self._meta_torn = False  # a write may have stopped mid-line: start the next one on a new line
        self._base: Mapped | None = None
        self._base_regions = 0
        self._flush_meta()
        doubles = 2 * max(1, len(self._gauge_meta))
        try:
            self._gauges: Mapped | Memory = Mapped(self.directory / f"{self.pid}.gauges", doubles)
        except OSError as exc:
            self._gauges = Memory([], doubles)
            self._report(("gauges", self.pid), f"cannot create {self.pid}.gauges ({exc}): gauges stay in this process")
        for i, value in enumerate(copy_gauges):
            self._gauges.view[i] = value
        self._emit()

    def _after_fork(self) -> None:
        """In a forked child: new files under the child's pid; counts start at zero, gauges keep their values."""
        gauges = list(self._gauges.view[: 2 * len(self._gauge_meta)])
        self._lock = threading.Lock()
        self.local.__dict__.pop("cells", None)
        self.local.__dict__.pop("slots", None)
        self._threads = []
        self._deferred = []
        self._start(copy_gauges=gauges)

    def _report(self, key: object, message: str) -> None:
        """Note a problem; it is logged by ``_emit`` once no lock is held (a log handler may record metrics)."""
        self._deferred.append((key, message))

    def _emit(self) -> None:
        while self._deferred:
            try:
                key, message = self._deferred.pop(0)
            except IndexError:  # another thread emitted it
                return
            self.problems.report("file", key, f"{self.directory}: {message}")

    # -- layout -------------------------------------------------------------------------------

    def _flush_meta(self) -> None:
        """Append the pending meta lines (lock held); on an OS error they stay pending for the next try."""
        if not self._pending:
            return
        data = "".join(json.dumps(meta) + "\n" for meta in self._pending).encode()
        if self._meta_torn:
            data = b"\n" + data
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self._meta_path, flags | (os.O_TRUNC if self._meta_fresh else 0), 0o644)
        except OSError as exc:
            self._report(("meta", exc.errno), f"cannot open {self._meta_path.name} ({exc}); will retry")
            return
        self._meta_fresh = False
        start = -1
        try:
            start = os.fstat(fd).st_size
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:
            try:
                if start >= 0:
                    os.ftruncate(fd, start)  # no half line left for readers
            except OSError:
                self._meta_torn = True
            self._report(("meta", exc.errno), f"cannot write {self._meta_path.name} ({exc}); will retry")
            return
        finally:
            os.close(fd)
        self._pending = []
        self._meta_torn = False

    def add(self, width: int, init: tuple[float, ...], meta: dict[str, Any]) -> int:
        """Reserve ``width`` doubles for a new series in every thread's file; returns its slot."""
        with self._lock:
            meta = {**meta, "o": self._size, "w": width}
            self._regions.append(_Region(self._size, width, init, meta))
            self._size += width
            self._pending.append(meta)
            self._flush_meta()
            slot = len(self._regions) - 1
        self._emit()
        return slot

    def add_gauge(self, meta: dict[str, Any]) -> int:
        """Reserve a gauge (value and write time) in this process's gauge file; returns its index."""
        with self._lock:
            index = len(self._gauge_meta)
            meta = {**meta, "g": index}
            self._gauge_meta.append(meta)
            try:
                self._gauges.grow(2 * (index + 1))
            except OSError as exc:
                self._gauges = Memory(list(self._gauges.view), 2 * (index + 1))
                self._report(
                    ("gauges", self.pid), f"cannot grow {self.pid}.gauges ({exc}): gauges stay in this process"
                )
            self._pending.append(meta)
            self._flush_meta()
        self._emit()
        return index

    @property
    def gauges(self) -> Any:
        return self._gauges.view

    # -- per-thread files ---------------------------------------------------------------------

    def mine(self) -> list[Any]:
        """The calling thread's list of views (one per slot), claiming or growing its file (slow path)."""
        slots: _Slots | None = self.local.__dict__.get("slots")
        if slots is None:
            slots = self._claim()
            self.local.slots = slots
            self.local.cells = slots.cells
        if len(slots.cells) < len(self._regions):
            self._extend(slots)
        self._emit()
        return slots.cells

    def _claim(self) -> _Slots:
        """A file for the calling thread: one an ended thread left (values kept: they are sums), else a new one."""
        me = weakref.ref(threading.current_thread())
        with self._lock:
            spare = None
            for slots in self._threads:
                if slots.ended():
                    if slots.file is not None:
                        spare = slots
                        break
                    spare = spare or slots
            if spare is not None:
                spare.owner = me
                return spare
            self._seq += 1
            path = self.directory / f"{self.pid}-{self._seq}.cells"
            size = self._size
        try:
            mapped: Mapped | None = Mapped(path, max(size, 1))
        except OSError as exc:
            mapped = None
            self._report(
                ("thread file", path.name),
                f"cannot create {path.name} ({exc}); the thread records in process memory, "
                "added to the worker's base file at each collection",
            )
        slots = _Slots(me, mapped)
        with self._lock:
            self._threads.append(slots)
        return slots

    def _extend(self, slots: _Slots) -> None:
        """Views for the series added since the thread last looked (in its file, or in memory if it cannot grow)."""
        with self._lock:
            regions = self._regions[len(slots.cells) :]
            size = self._size
        if slots.file is not None:
            try:
                slots.file.grow(size)
            except OSError as exc:
                self._report(
                    ("grow", slots.file.path.name),
                    f"cannot grow {slots.file.path.name} ({exc}); new series of this thread stay in process memory",
                )
        for region in regions:
            end = region.offset + region.width
            if slots.file is not None and end <= slots.file.capacity:
                part = slots.file.view[region.offset : end]
                for i, value in enumerate(region.init):
                    part[i] = value
            else:
                part = memoryview(array("d", region.init))
                slots.memory[len(slots.cells)] = array("d", region.init)
            slots.cells.append(part)

    def values(self, slot: int) -> list[Any]:
        """This process's values of one slot: its base file's and each thread's (memory: what is not in the base)."""
        with self._lock:
            region = self._regions[slot]
            out = []
            if self._base is not None and slot < self._base_regions:
                out.append(self._base.view[region.offset : region.offset + region.width])
            for slots in self._threads:
                if len(slots.cells) > slot:
                    flushed = slots.memory.get(slot)
                    part = slots.cells[slot]
                    if flushed is not None:
                        expo = region.meta.get("k") == EXPONENTIAL
                        part = unflushed_expo(part, flushed) if expo else _unflushed(part, flushed)
                    out.append(part)
            return out

    def reap(self) -> None:
        """Fold ended threads' files, and values held in memory, into this process's base file (at collection)."""
        with self._lock:
            self._flush_meta()
            due = any(slots.memory or slots.ended() for slots in self._threads)
        if due:
            with locked(self.directory, True, self.problems) as ok:
                if ok:
                    with self._lock:
                        self._fold_into_base()
        self._emit()

    def _fold_into_base(self) -> None:
        """Lock and directory lock held: fold, then delete the ended threads' files."""
        try:
            if self._base is None:
                self._base = Mapped(self.directory / f"{self.pid}-0.cells", max(self._size, 1))
            self._base.grow(self._size)
        except OSError as exc:
            self._report(("base", exc.errno), f"cannot create or grow {self.pid}-0.cells ({exc}); will retry")
            return
        view = self._base.view
        for region in self._regions[self._base_regions :]:
            view[region.offset : region.offset + region.width] = array("d", region.init)
        self._base_regions = len(self._regions)
        keep = []
        for slots in self._threads:
            ended = slots.ended()
            for index, (region, part) in enumerate(zip(self._regions, slots.cells)):
                flushed = slots.memory.get(index)
                if ended or flushed is not None:
                    _fold(view, region, part, flushed)
            if not ended:
                keep.append(slots)
            elif slots.file is not None and not self._remove(slots):
                keep.append(slots)  # emptied instead: the next new thread reuses it
        self._threads = keep

    def _remove(self, slots: _Slots) -> bool:
        """Delete an ended thread's folded file; if that fails, reset its values so they are not counted twice."""
        assert slots.file is not None
        try:
            slots.file.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            for region, part in zip(self._regions, slots.cells):
                part[: region.width] = array("d", region.init)
            slots.memory.clear()
            self._report(("unlink", slots.file.path.name), f"cannot remove {slots.file.path.name} ({exc}); emptied")
            return False
        return True

    def reset(self, slot: int) -> None:
        """Not supported: other workers share the series' values (the family refuses removal before this)."""
        raise NotImplementedError("series cannot be removed in multiprocess mode")

    def ticks_of(self, slot: int) -> None:
        """None: a shared counter records every increment in its mapped cell."""
        return None

    def retire(self, series: Any, slot: int) -> None:
        """Not supported, as ``reset``."""
        self.reset(slot)

    def update_base(self, slot: int, update: Any) -> None:
        """Nothing to do: the base here is this process's mapped file, which holds no sample window."""

    def thread_count(self) -> int:
        """Number of per-thread files or memory cells currently held (for tests and diagnostics)."""
        return len(self._threads)
