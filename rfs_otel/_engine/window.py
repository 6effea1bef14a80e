"""A summary's sliding window inside its per-thread cell: recording, release of expired samples, merging.

The owner thread appends (time, value) to its cell's window and releases expired samples itself, in bulk;
readers take the window tuple once, so they see either the old arrays or the new ones, never a mix.
"""

from __future__ import annotations

import math
import time
from array import array
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from .backend import SlotKind
from .layout import SUMMARY_MAX, SUMMARY_MIN, WINDOW, merge_histogram_cells, new_histogram_cell

__all__ = ["Window", "new_summary_cell", "release", "released_copy", "settled", "summary_slot"]

#: A summary cell's samples: (times, values, when its owner thread next releases expired samples).
Window = tuple["array[float]", "array[float]", float]


def new_summary_cell(width: int) -> list[Any]:
    """An empty summary cell: a histogram cell plus an empty window due for release at once."""
    return [*new_histogram_cell(width), (array("d"), array("d"), -math.inf)]


def settled(cell: list[Any]) -> list[Any]:
    """A summary cell's histogram part with min/max covering its window (observe leaves them to readers)."""
    values = cell[WINDOW][1]
    low, high = cell[SUMMARY_MIN], cell[SUMMARY_MAX]
    if values:
        low, high = min(low, *values), max(high, *values)
    return [*cell[:SUMMARY_MIN], low, high]


def release(cell: list[Any], now: float, max_age: float, keep: int) -> None:
    """Owner thread only: drop samples older than ``max_age`` or beyond the newest ``keep``, folding their min/max.

    Copies only when at least as many samples go as stay (always so past the ``2 * keep`` cap), so each sample
    is copied O(1) times and the buffer holds at most about twice what arrived in the last ``max_age``.
    """
    times, values, _ = cell[WINDOW]
    n = len(values)
    start = max(bisect_left(times, now - max_age, 0, n), n - keep)
    if start > 0 and 2 * start >= n:
        dropped = values[:start]
        low, high = min(dropped), max(dropped)
        cell[SUMMARY_MIN], cell[SUMMARY_MAX] = min(cell[SUMMARY_MIN], low), max(cell[SUMMARY_MAX], high)
        times, values = times[start:], values[start:]
    # Readers take the tuple once, so they see either the old arrays or the new ones, never a mix.
    cell[WINDOW] = (times, values, now + max_age / 2)


def released_copy(cell: list[Any], now: float, max_age: float, keep: int) -> list[Any]:
    """A copy of an ended threads' cell without its expired samples (the original may be read concurrently)."""
    copy = list(cell)
    release(copy, now, max_age, keep)
    return copy


def _merge_windows(a: Window, b: Window, keep: int, cutoff: float) -> Window:
    pairs = sorted(p for p in zip(list(a[0]) + list(b[0]), list(a[1]) + list(b[1])) if p[0] >= cutoff)[-keep:]
    return array("d", (t for t, _ in pairs)), array("d", (v for _, v in pairs)), -math.inf


def summary_slot(max_samples: int, max_age: float = math.inf, clock: Callable[[], float] = time.monotonic) -> SlotKind:
    """Slot kind of a summary series: histogram state plus a (times, values) window.

    Merging an ended thread's cell keeps only samples still inside the window (younger than ``max_age``).
    """

    def merge(a: list[Any], b: list[Any]) -> list[Any]:
        cutoff = clock() - max_age
        return [
            *merge_histogram_cells(settled(a), settled(b)),
            _merge_windows(a[WINDOW], b[WINDOW], max_samples, cutoff),
        ]

    return (None, merge)
