"""What a family needs from where its series keep their values: the ``CellBackend`` protocol and its parts.

Two backends implement it: ``ThreadCells`` (per-thread lists in this process, ``_engine.cells``) and the
multiprocess backend (per-thread memory-mapped files, ``rfs_otel.multiprocess``). A family creates its series
through its backend and never needs to know which one it has.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .._model.records import MetricType
from .._model.validation import LabelKey
from .._util.fork import Reinitialisable

__all__ = ["CellBackend", "FamilyInfo", "SlotKind", "SlotStore"]

#: How a slot starts in a new thread's list and how two of its values merge.
#: ``init`` is the value itself when immutable (0 for counters) or None for lazily built cells.
SlotKind = tuple[Any, Callable[[Any, Any], Any]]


class FamilyInfo(Protocol):
    """What a series reads of its family: the definition, the clock, and the way to a child series."""

    name: str
    kind: MetricType
    description: str
    unit: str
    bounds: tuple[float, ...]
    quantiles: tuple[float, ...]
    max_age: float
    max_samples: int
    limit: int
    multiprocess_mode: str
    #: ``(max_size, max_scale)`` of a histogram aggregating as an OTel exponential histogram, else None.
    exponential: tuple[int, int] | None
    #: The collector's clock (monotonic seconds): summary windows age by it.
    clock: Callable[[], float]
    #: The series taking label sets past ``limit`` (None until the limit is reached).
    overflow: Any

    def child(self, parent: Any, labels: Mapping[str, object]) -> Any:
        """The series whose labels are ``parent``'s with ``labels`` merged over them."""

    def remove_series(self, series: Any) -> bool:
        """Stop exporting ``series`` (False if it was not exported)."""


class SlotStore(Protocol):
    """Per-thread cells a bound series records into: ``local.cells[slot]`` is the fast path, ``mine()`` the slow."""

    local: threading.local

    def mine(self) -> list[Any]:
        """The calling thread's cells, created or extended to cover every slot."""

    def values(self, slot: int) -> list[Any]:
        """The slot's cell in every thread's cells (and the ended threads' base), for reading."""

    def update_base(self, slot: int, update: Callable[[Any], Any]) -> None:
        """Replace the slot's ended-thread base cell by ``update(cell)``; a store without such a base ignores it."""

    def reset(self, slot: int) -> None:
        """Put the slot back to its initial value in every thread's cells (its series was removed)."""

    def ticks_of(self, slot: int) -> Any:
        """The tick count a counter in ``slot`` advances for ``increment()`` with no argument (None: none)."""

    def retire(self, series: Any, slot: int) -> None:
        """``reset(slot)`` for the removed ``series``; the store may reuse the slot once ``series`` is garbage."""


class CellBackend(Protocol):
    """Creates series whose values it keeps, folds ended threads at collection, and survives a fork."""

    #: Whether a series can be removed (and expire): False where other processes share its values.
    removable: bool
    #: Whether the family expires series idle in this process (False: the source does, across processes).
    expires_idle: bool

    def new_series(self, family: FamilyInfo, key: LabelKey) -> Any:
        """A new series of ``family``'s kind labelled ``key``, recording into this backend."""

    def clear_elsewhere(self, family: FamilyInfo, removed: set[LabelKey]) -> int:
        """Remove ``family``'s series other processes created (not among ``removed``); how many there were."""

    def reap(self) -> None:
        """Fold the state of ended threads (called at each collection)."""

    def fork_locks(self) -> list[Reinitialisable]:
        """The short locks held while the process forks, so the child's copy is whole."""

    def thread_count(self) -> int:
        """Number of per-thread cell sets currently held (diagnostics)."""
