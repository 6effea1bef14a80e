"""Cell layouts: what each slot of a counter, histogram and summary cell holds, and how two cells merge.

A histogram cell is ``width`` bucket counts (+Inf last) followed by sum, min and max; a summary cell adds its
sample window after those. Offsets count from the end, so one name serves every bucket layout.
"""

from __future__ import annotations

import math
from typing import Any

from .backend import SlotKind

__all__ = [
    "COUNTER_SLOT",
    "HISTOGRAM_SLOT",
    "MAX",
    "MIN",
    "SUM",
    "SUMMARY_MAX",
    "SUMMARY_MIN",
    "SUMMARY_SUM",
    "WINDOW",
    "HistogramSnapshot",
    "histogram_value",
    "merge_histogram_cells",
    "new_histogram_cell",
    "record",
    "snapshot_of",
]

#: Histogram cell: sum, min and max of the observations, after the bucket counts.
SUM, MIN, MAX = -3, -2, -1
#: Summary cell: the histogram part (counts, sum, min, max) followed by the window of samples.
SUMMARY_SUM, SUMMARY_MIN, SUMMARY_MAX, WINDOW = -4, -3, -2, -1


def _add(a: Any, b: Any) -> Any:
    return a + b


#: A counter's cell is its running total.
COUNTER_SLOT: SlotKind = (0, _add)


def new_histogram_cell(width: int) -> list[Any]:
    """An empty histogram cell of ``width`` buckets."""
    return [0] * width + [0.0, math.inf, -math.inf]


def merge_histogram_cells(a: list[Any], b: list[Any]) -> list[Any]:
    """One histogram cell holding what ``a`` and ``b`` hold."""
    n = len(a) + SUM
    merged = [x + y for x, y in zip(a[:n], b[:n])]
    merged += [a[SUM] + b[SUM], min(a[MIN], b[MIN]), max(a[MAX], b[MAX])]
    return merged


HISTOGRAM_SLOT: SlotKind = (None, merge_histogram_cells)


def record(cell: Any, bucket: int, value: float) -> None:
    """Count ``value`` in ``bucket`` of a histogram cell and fold it into sum, min and max.

    (``Histogram.observe`` inlines this for speed.)
    """
    cell[bucket] += 1
    cell[SUM] += value
    if value < cell[MIN]:
        cell[MIN] = value
    if value > cell[MAX]:
        cell[MAX] = value


class HistogramSnapshot:
    """Merged per-bucket counts (non-cumulative, +Inf last), sum, min and max of one series."""

    __slots__ = ("counts", "max", "min", "sum")

    def __init__(self, counts: list[int], total: float, low: float, high: float) -> None:
        self.counts = counts
        self.sum = total
        self.min = low
        self.max = high

    @property
    def count(self) -> int:
        return sum(self.counts)


def snapshot_of(cells: list[Any], width: int) -> HistogramSnapshot:
    """The merged snapshot of histogram cells (lists or mapped views with the same layout)."""
    counts = [0] * width
    total = 0.0
    low, high = math.inf, -math.inf
    for cell in cells:
        for i in range(width):
            counts[i] += cell[i]
        total += cell[width]
        low = min(low, cell[width + 1])
        high = max(high, cell[width + 2])
    return HistogramSnapshot(counts, total, low, high)


def histogram_value(bounds: tuple[float, ...], snap: HistogramSnapshot) -> dict[str, Any]:
    """``{"count", "sum", "buckets": {upper bound: cumulative count}}`` (+Inf is ``math.inf``)."""
    buckets: dict[float, int] = {}
    running = 0
    for bound, count in zip((*bounds, math.inf), snap.counts):
        running += count
        buckets[bound] = running
    return {"count": running, "sum": snap.sum, "buckets": buckets}
