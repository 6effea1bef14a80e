"""Per-thread slot lists: the lock-free hot path behind every counter, histogram and summary.

Each thread records into its own list (one slot per series), so increments never contend and
never race. Readers sum a slot across all threads' lists at collection; the lists of threads
that have ended are folded into a base list so thread churn costs no memory.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from operator import add
from typing import Any

from .._model.records import MetricType
from .._model.validation import LabelKey
from .._util.fork import Reinitialisable, after_fork_in_child, reinit
from .backend import FamilyInfo, SlotKind
from .expo import EXPO_SLOT
from .expo_series import ExponentialHistogram
from .layout import COUNTER_SLOT, HISTOGRAM_SLOT
from .numbers import INT64, exportable
from .series import Counter, Gauge, Histogram, Series, Summary
from .ticks import TICKING, new_ticks, read_tick, read_ticks
from .window import summary_slot

__all__ = ["ThreadCells", "counter_totals"]


class ThreadCells:
    """Owns the per-thread slot lists of one collector: the ``CellBackend`` of a single-process collector."""

    removable = True
    expires_idle = True

    __slots__ = (
        "__weakref__",
        "_base",
        "_freed",
        "_kinds",
        "_lists",
        "_lock",
        "_retiring",
        "_summaries",
        "_ticked",
        "_ticks",
        "local",
    )

    def __init__(self) -> None:
        self.local = threading.local()
        self._lock = threading.Lock()
        self._kinds: list[SlotKind] = []
        self._base: list[Any] = []
        self._lists: list[tuple[weakref.ref[threading.Thread], list[Any]]] = []
        #: Slots of removed series that were garbage-collected, per slot kind (``id``): new series reuse them.
        self._freed: dict[int, list[int]] = {}
        #: Slots of removed series still alive somewhere (a caller may record on them again): slot -> weak ref.
        self._retiring: dict[int, weakref.ref[Series]] = {}
        #: One slot kind per summary window setting, so summaries' freed slots are reused too.
        self._summaries: dict[tuple[int, float, Callable[[], float]], SlotKind] = {}
        #: Per slot: a counter's tick count (``increment()`` with no argument, see ``ticks``), else None.
        self._ticks: list[Any] = []
        #: Per counter slot: ticks that no longer count (before its series was removed, or before a fork).
        self._ticked: dict[int, int] = {}
        after_fork_in_child(self, "_after_fork")

    def new_series(self, family: FamilyInfo, key: LabelKey) -> Series:
        """A new series of ``family``'s kind recording into a fresh slot of these lists."""
        kind = family.kind
        if kind is MetricType.COUNTER:
            return Counter(family, key, self, self.new_slot(COUNTER_SLOT))
        if kind is MetricType.GAUGE:
            return Gauge(family, key)
        if kind is MetricType.HISTOGRAM and family.exponential is not None:
            return ExponentialHistogram(family, key, self, self.new_slot(EXPO_SLOT))
        if kind is MetricType.HISTOGRAM:
            return Histogram(family, key, self, self.new_slot(HISTOGRAM_SLOT))
        return Summary(family, key, self, self.new_slot(self._summary_kind(family)))

    def _summary_kind(self, family: FamilyInfo) -> SlotKind:
        """The slot kind of ``family``'s summaries, shared by every summary of the same window setting."""
        setting = (family.max_samples, family.max_age, family.clock)
        try:
            kind = self._summaries.get(setting)
        except TypeError:  # an unhashable clock: a kind of its own (its slots are not reused)
            return summary_slot(*setting)
        if kind is None:
            kind = self._summaries[setting] = summary_slot(*setting)
        return kind

    def new_slot(self, kind: SlotKind) -> int:
        """Reserve a slot for a new series and return its index: a dead removed series' of the same kind, if any."""
        with self._lock:
            freed = self._freed.get(id(kind))
            if freed:
                slot = freed.pop()
                self._clear(slot)  # what the removed series recorded after its removal, before it died
                return slot
            self._kinds.append(kind)
            self._base.append(kind[0])
            self._ticks.append(new_ticks() if kind is COUNTER_SLOT else None)
            return len(self._kinds) - 1

    def ticks_of(self, slot: int) -> Any:
        """The tick count a counter in ``slot`` advances for ``increment()`` (None: it records in its cells)."""
        return self._ticks[slot]

    def mine(self) -> list[Any]:
        """Return the calling thread's list, creating or extending it (the slow path)."""
        try:
            cells: list[Any] = self.local.cells
        except AttributeError:
            cells = []
            with self._lock:
                self._lists.append((weakref.ref(threading.current_thread()), cells))
            self.local.cells = cells
        if len(cells) < len(self._kinds):
            kinds = self._kinds[len(cells) :]
            cells.extend(kind[0] for kind in kinds)
        return cells

    def values(self, slot: int) -> list[Any]:
        """The slot's value in the base list and in every live thread's list (None entries skipped)."""
        with self._lock:  # as one with ``reap``: a folded thread is read in its list or in the base, once
            out, lists, ticks = [self._base[slot]], self._lists, self._ticks[slot]
            if ticks is not None:
                out.append(read_tick(ticks) - self._ticked.get(slot, 0))
        out.extend(cells[slot] for _, cells in lists if len(cells) > slot)
        return [v for v in out if v is not None]

    def totals(self, slots: list[int]) -> list[Any]:
        """``sum(values(slot))`` for many counter slots at once: one pass over each thread's list, not per slot."""
        with self._lock:  # as one with ``reap`` (see ``values``)
            out, lists = [self._base[slot] for slot in slots], list(self._lists)
            if TICKING:  # every counter slot has a tick count
                ticks = read_ticks([self._ticks[slot] for slot in slots])
                ticked = self._ticked
                if ticked:
                    ticks = [n - ticked.get(slot, 0) for n, slot in zip(ticks, slots)]
                out = list(map(add, out, ticks))
        top = max(slots, default=-1)
        for _, cells in lists:
            if top < len(cells):
                out = [o if v is None else o + v for o, v in zip(out, [cells[slot] for slot in slots])]
            else:
                n = len(cells)
                out = [o + cells[s] if s < n and cells[s] is not None else o for o, s in zip(out, slots)]
        return out

    def update_base(self, slot: int, update: Callable[[Any], Any]) -> None:
        """Replace the slot's base value (ended threads' state) by ``update(value)``, atomically with ``reap``."""
        with self._lock:
            value = self._base[slot]
            if value is not None:
                self._base[slot] = update(value)

    def reset(self, slot: int) -> None:
        """Put ``slot`` back to its initial value in the base and every thread's list (its series was removed)."""
        with self._lock:
            self._clear(slot)

    def retire(self, series: Series, slot: int) -> None:
        """``series`` was removed: reset its slot, and let a new series reuse the slot once ``series`` is garbage.

        While a caller still holds ``series`` the slot stays its own (recorded on again, it comes back), so memory
        under series churn stays bounded by the live series, not by every series ever created.
        """
        self.reset(slot)
        if slot in self._retiring:
            return
        freed, retiring, kind = self._freed, self._retiring, id(self._kinds[slot])

        def died(_: object) -> None:  # a GC callback, in any thread, maybe while ``_lock`` is held: no lock here
            retiring.pop(slot, None)
            freed.setdefault(kind, []).append(slot)

        retiring[slot] = weakref.ref(series, died)

    def _clear(self, slot: int) -> None:
        """Put ``slot`` back to its initial value everywhere (lock held)."""
        init = self._kinds[slot][0]
        self._base[slot] = init
        ticks = self._ticks[slot]
        if ticks is not None:
            self._ticked[slot] = read_tick(ticks)
        for _, cells in self._lists:
            if len(cells) > slot:
                cells[slot] = init

    def clear_elsewhere(self, family: FamilyInfo, removed: set[LabelKey]) -> int:
        return 0  # one process: the family held every series

    def reap(self) -> None:
        """Fold the lists of ended threads into the base list; called at collection."""
        with self._lock:
            alive = []
            for ref, cells in self._lists:
                thread = ref()
                if thread is not None and thread.is_alive():
                    alive.append((ref, cells))
                    continue
                for slot, value in enumerate(cells):
                    if value is None:
                        continue
                    base = self._base[slot]
                    self._base[slot] = value if base is None else self._kinds[slot][1](base, value)
            self._lists = alive

    def thread_count(self) -> int:
        """Number of per-thread lists currently held (for tests and diagnostics)."""
        return len(self._lists)

    def fork_locks(self) -> list[Reinitialisable]:
        """The short lock the owning collector holds while the process forks (a consistent copy for the child)."""
        return [self._lock]

    def _after_fork(self) -> None:
        """In a forked child: start from zero so the parent's values are not counted twice."""
        reinit(self._lock)
        # Only the forking thread survives; series hold ``local`` itself, so clear it in place.
        self.local.__dict__.pop("cells", None)
        self._lists = []
        self._base = [kind[0] for kind in self._kinds]
        counters = [slot for slot, ticks in enumerate(self._ticks) if ticks is not None]
        self._ticked = dict(zip(counters, read_ticks([self._ticks[slot] for slot in counters])))


def counter_totals(series: list[Any]) -> list[float | int]:
    """``get_value()`` of many counters; those of one ``ThreadCells`` are read in one pass per thread's list."""
    try:
        refs = [s.cell() for s in series]
    except AttributeError:  # another backend's series (multiprocess): read one at a time
        return [s.get_value() for s in series]
    store = refs[0][0] if refs else None
    if not isinstance(store, ThreadCells) or any(ref[0] is not store for ref in refs):
        return [s.get_value() for s in series]
    out = store.totals([slot for _, slot in refs])
    if out and (max(out) >= INT64 or min(out) < -INT64):
        out = [exportable(total) for total in out]
    return out
