"""Exponential histograms in worker files: cells rescale, so folding and summing merge them at a common scale
instead of adding doubles (kind ``exponential`` in the meta lines; its "bounds" are ``[max_size, max_scale]``)."""

from __future__ import annotations

import math
from array import array
from typing import Any

from .._engine.expo import HEAD, SCALE, ExpoSnapshot, cell_of, merge_expo_cells, size_of

__all__ = ["EXPONENTIAL", "fold_expo", "snapshot_of_vector", "unflushed_expo", "valid_expo_vector"]

EXPONENTIAL = "exponential"


def snapshot_of_vector(vector: Any) -> ExpoSnapshot:
    """The snapshot of one (merged) exponential cell read from the files."""
    return ExpoSnapshot.of([vector], size_of(vector), int(vector[SCALE]))


def unflushed_expo(part: Any, flushed: array[float]) -> list[Any]:
    """What a thread holding its cell in memory recorded since its last fold (``flushed``: the cell then)."""
    delta = snapshot_of_vector(part).minus(snapshot_of_vector(flushed))
    return cell_of(delta) if delta is not None else list(part)


def fold_expo(view: Any, start: int, width: int, part: Any, flushed: array[float] | None) -> None:
    """Merge one thread's cell (less what an earlier fold took) into the base file's cell at ``start``."""
    add = part if flushed is None else unflushed_expo(part, flushed)
    base = view[start : start + width]
    view[start : start + width] = array("d", merge_expo_cells(list(base), list(add)))
    if flushed is not None:
        flushed[:] = array("d", part)


def valid_expo_vector(width: int, vector: list[float]) -> bool:
    """A scale in [-10, 20], whole non-negative zero and bucket counts, ranges that fit, finite sum."""
    n = (width - HEAD) // 2
    scale, counts = vector[SCALE], [vector[2], *vector[HEAD:]]
    if not (-10 <= scale <= 20 and scale == int(scale)) or not math.isfinite(vector[3]) or n < 2:
        return False
    if not all(math.isfinite(c) and c >= 0 and c == int(c) for c in counts):
        return False
    for lo, hi in ((vector[6], vector[7]), (vector[8], vector[9])):
        if lo <= hi and not (hi - lo < n and abs(lo) < 2**40 and abs(hi) < 2**40):
            return False
    return True
