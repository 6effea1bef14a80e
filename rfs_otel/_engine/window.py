"""A summary's sliding window: per-thread batches, folded by readers into log-linear bucket counts.

``observe()`` appends the value to its thread's pending list and reads the clock once. Every ``FOLD`` samples,
or once the batch is ``max_age / SLICES`` old, the owner *seals* it: counts it in the cumulative histogram and
hands it to the readers (plus releasing at most ``DROP_BUDGET`` sealed batches no reader took before they left
the window) - the same bounded work at every seal. Readers fold sealed batches into the thread's
:class:`WindowSketch` with C-level operations (bucket keys from the values' float bit patterns,
``Counter.update``) and release what left the window, then answer from the bucket counts, whose number does not
grow with the window. A batch's samples share the time of its first one, so a sample
leaves the window up to ``max_age / SLICES`` early.
"""

from __future__ import annotations

import math
import time
from array import array
from bisect import bisect_right
from collections.abc import Callable
from itertools import repeat
from operator import itemgetter
from typing import Any

from .backend import SlotKind
from .layout import SUMMARY_MAX, SUMMARY_MIN, SUMMARY_SUM, WINDOW, merge_histogram_cells, new_histogram_cell
from .sketch import WindowSketch

__all__ = [
    "DROP_BUDGET",
    "EXACT_UP_TO",
    "FOLD",
    "Pending",
    "SLICES",
    "Window",
    "absorb",
    "new_summary_cell",
    "pending_of",
    "seal",
    "settled",
    "summary_slot",
]

#: Pending samples per batch (bounds both a seal's work and a reader's pending copy).
FOLD = 128

#: A batch is sealed once ``max_age / SLICES`` old: a sample's recorded time is at most that much early.
SLICES = 32

#: Sealed batches an owner drops per seal at most (unread batches that left the window).
DROP_BUDGET = 2

#: Windows of at most this many samples answer exact quantiles (sorting them is as cheap as the buckets).
EXACT_UP_TO = 512

#: A summary cell's window: (pending values, when its owner next folds, the pending batch's time, its sketch).
Window = tuple[list[float], float, float, "WindowSketch"]


def new_summary_cell(bounds: tuple[float, ...]) -> list[Any]:
    """An empty summary cell: a histogram cell plus an empty pending batch due for sealing at once."""
    return [*new_histogram_cell(len(bounds) + 1), ([], -math.inf, -math.inf, WindowSketch(bounds))]


def _count(cell: list[Any], bounds: tuple[float, ...], values: Any) -> None:
    """Count ``values`` into a summary cell's cumulative histogram part (buckets, sum, min, max).

    Sorts the batch (C) and bisects each bound into it: O(bounds) Python steps, not O(values).
    """
    ordered = sorted(values)
    below = 0
    for bucket, at_most in enumerate(map(bisect_right, repeat(ordered), bounds)):
        cell[bucket] += at_most - below
        below = at_most
    cell[len(bounds)] += len(ordered) - below
    cell[SUMMARY_SUM] += sum(ordered)
    cell[SUMMARY_MIN], cell[SUMMARY_MAX] = min(cell[SUMMARY_MIN], ordered[0]), max(cell[SUMMARY_MAX], ordered[-1])


def settled(cell: list[Any]) -> list[Any]:
    """A summary cell's cumulative histogram part with its pending samples counted too (sealed ones already are)."""
    sketch = cell[WINDOW][3]
    with sketch.lock:
        part = list(cell)  # with the window slot, so the layout's offsets hold; dropped below
        values = list(cell[WINDOW][0])
    if values:
        _count(part, sketch.bounds, values)
    return part[:WINDOW]


def seal(cell: list[Any], now: float, max_age: float, keep: int) -> list[float]:
    """Owner thread: count the pending batch in the cumulative histogram, hand it to the readers and start a new
    one at ``now``; return the new one.

    The same work at every seal (one batch of FOLD samples counted), plus releasing at most DROP_BUDGET sealed
    batches no reader folded before they left the window, so memory stays bounded by ``max_age`` and
    ``max_samples`` and no seal does more than another.
    """
    pending, _, start, sketch = cell[WINDOW]
    fresh: list[float] = []
    # A clock that went backwards does not reorder the thread's batches: the new one keeps the latest time seen.
    now = max(now, start)
    with sketch.lock:
        sealed = sketch.sealed
        if pending:
            _count(cell, sketch.bounds, pending)
            sealed.append((start, pending))
            sketch.sealed_size += len(pending)
        cutoff = now - max_age
        # At most DROP_BUDGET batches per seal, so an observe after a long pause does not stall; each seal
        # adds one batch, so the count bound still holds, and the expired rest goes with the next seals or read.
        for _ in range(DROP_BUDGET):
            if not (sealed and (sealed[0][0] < cutoff or sketch.sealed_size - len(sealed[0][1]) >= keep)):
                break
            at, values = sealed.popleft()
            sketch.sealed_size -= len(values)
            sketch.dropped = at  # the older samples readers folded left the window too
        # Readers take the tuple under the lock, so no sample is seen both pending and sealed.
        cell[WINDOW] = (fresh, now + max_age / SLICES, now, sketch)
    return fresh


#: The pending batch as a reader took it: (a copy of its values, its time, the batch itself, for identity).
Pending = tuple[list[float], float, list[float]]


def absorb(cell: list[Any], cutoff: float = -math.inf) -> Pending:
    """Reader (holding the sketch's ``reading`` lock): take the sealed batches and the pending batch's snapshot in
    one brief hold of ``lock`` (so no sample is seen twice or missed), then fold the batches younger than
    ``cutoff`` into the sketch without it: an owner sealing meanwhile never waits for a long read."""
    sketch: WindowSketch = cell[WINDOW][3]
    with sketch.lock:
        batches = list(sketch.sealed)
        sketch.sealed.clear()
        sketch.sealed_size = 0
        pending, _, start, _ = cell[WINDOW]
        taken = (list(pending), start, pending)
        dropped, sketch.dropped = sketch.dropped, -math.inf
    if sketch.size and dropped > -math.inf:  # samples older than one the owner dropped: gone as well, not a gap
        sketch.release(math.nextafter(dropped, math.inf), sketch.size, None)
    for at, values in batches:  # their seal counted them in the cumulative part already
        if at >= cutoff:
            batch = array("d", values)
            sketch.fold(array("d", [at]) * len(batch), batch, min(batch), max(batch))
    return taken


def pending_of(pending: Pending) -> tuple[array[float], array[float]]:
    """A taken pending batch's (times, values): every pending sample carries its batch's time."""
    values = array("d", pending[0])
    return array("d", [pending[1]]) * len(values), values


def _merged_cell(a: list[Any], b: list[Any], keep: int, cutoff: float) -> list[Any]:
    sketches = []
    for cell in (a, b):
        sketch = cell[WINDOW][3]
        with sketch.reading:
            copy_pending = absorb(cell)
            copy = sketch.copy()
        times, values = pending_of(copy_pending)
        if values:
            copy.fold(times, values, min(values), max(values))
        sketches.append(copy)
    bounds = a[WINDOW][3].bounds
    merged = WindowSketch(bounds)
    # By time only (stable): a batch's samples share one time and must leave oldest first, not smallest first.
    samples = sorted([*sketches[0].samples(), *sketches[1].samples()], key=itemgetter(0))
    samples = [s for s in samples if s[0] >= cutoff][-keep:]
    if samples:
        values = array("d", [s[1] for s in samples])
        merged.fold(array("d", [s[0] for s in samples]), values, min(values), max(values))
    return [*merge_histogram_cells(settled(a), settled(b)), ([], -math.inf, -math.inf, merged)]


def summary_slot(max_samples: int, max_age: float = math.inf, clock: Callable[[], float] = time.monotonic) -> SlotKind:
    """Slot kind of a summary series: histogram state plus a sample window folded into bucket counts.

    Merging an ended thread's cell keeps only samples still inside the window (younger than ``max_age``).
    """

    def merge(a: list[Any], b: list[Any]) -> list[Any]:
        return _merged_cell(a, b, max_samples, clock() - max_age)

    return (None, merge)
