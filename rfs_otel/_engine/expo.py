"""Base-2 exponential histogram cells (OTel specification): layout, downscaling, merging, reading, quantiles.

A cell is one flat list (or a view of doubles): a header, then two rings of ``max_size`` counts, positive then
negative. Bucket ``i`` of scale ``s`` holds values in ``(2**(i/2**s), 2**((i+1)/2**s)]`` (negatives mirrored);
it lives at ring position ``i % max_size`` while the ring's index range ``[lo, hi]`` spans at most ``max_size``.
A value outside that range widens it; when the range would exceed ``max_size`` both rings are downscaled
(``i >> k``), as the specification's rescaling does. Zero goes to the zero bucket.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import Any

from .._errors import MetricError
from .backend import SlotKind
from .layout import HistogramSnapshot

__all__ = [
    "DEFAULT_MAX_SCALE",
    "DEFAULT_MAX_SIZE",
    "EXPO_SLOT",
    "ExpoSnapshot",
    "cell_of",
    "check_exponential",
    "combine",
    "index_of",
    "near_bound",
    "merge_expo_cells",
    "new_expo_cell",
    "size_of",
    "widen",
]

DEFAULT_MAX_SIZE = 160
DEFAULT_MAX_SCALE = 20
MIN_SCALE = -10
#: Header offsets: scale, 2**scale, zero count, sum, min, max, positive range, negative range.
SCALE, MULT, ZERO, SUM, MIN, MAX, PLO, PHI, NLO, NHI = range(10)
HEAD = 10
_EMPTY = (1 << 62, -(1 << 62))  # lo > hi: an empty ring


def check_exponential(name: str, max_size: object, max_scale: object) -> tuple[int, int]:
    """Validated ``(max_size, max_scale)``: max_size an int in [2, 16384], max_scale an int in [-10, 20]."""
    if isinstance(max_size, bool) or not isinstance(max_size, int) or not 2 <= max_size <= 16384:
        raise MetricError(f"histogram {name!r}: max_size must be an int from 2 to 16384, got {max_size!r}")
    if isinstance(max_scale, bool) or not isinstance(max_scale, int) or not MIN_SCALE <= max_scale <= 20:
        raise MetricError(f"histogram {name!r}: max_scale must be an int from -10 to 20, got {max_scale!r}")
    return max_size, max_scale


def index_of(magnitude: float, scale: int) -> int:
    """The bucket index of a positive ``magnitude`` at ``scale`` (upper-inclusive buckets, exact at powers of 2)."""
    mult = 2.0**scale
    x = math.log2(magnitude) * mult
    i = math.ceil(x) - 1
    return near_bound(magnitude, mult) if x - i > 0.999 else i


def near_bound(magnitude: float, mult: float) -> int:
    """The index of a value whose ``log2`` lands at or just under a bucket bound, where libm's last-bit rounding
    can put a float just above a power of two in the bucket below: split off the exponent exactly (``frexp``)
    and compare with that power of two itself. Other bounds are irrational: approximate, as in the OTel SDK.
    """
    mantissa, exponent = math.frexp(magnitude)  # magnitude = mantissa * 2**exponent, 0.5 <= mantissa < 1
    x = (exponent + math.log2(mantissa)) * mult
    i = math.ceil(x) - 1
    if i + 1 == x:
        k = x / mult
        if k == int(k) and k < 1024 and magnitude > math.ldexp(1.0, int(k)):  # 2**1024 is past the largest float
            return int(x)
    return i


def new_expo_cell(max_size: int, max_scale: int) -> list[Any]:
    """An empty cell at ``max_scale`` (the finest scale; it only ever goes down)."""
    return [max_scale, 2.0**max_scale, 0, 0.0, math.inf, -math.inf, *_EMPTY, *_EMPTY] + [0] * (2 * max_size)


def _size(cell: Sequence[Any]) -> int:
    return (len(cell) - HEAD) // 2


def _buckets(cell: Sequence[Any], negative: bool) -> dict[int, int]:
    """The ring's non-empty buckets, by index."""
    n = _size(cell)
    lo, hi = int(cell[NLO if negative else PLO]), int(cell[NHI if negative else PHI])
    ring = HEAD + n if negative else HEAD
    out = {}
    for i in range(lo, hi + 1):
        count = int(cell[ring + i % n])
        if count:
            out[i] = count
    return out


def _lowest(scale: int) -> int:
    """The bucket index of the smallest normal double (2**-1022) at ``scale``, as the OTel SDK maps subnormals."""
    return math.ceil(-1022 * 2.0**scale) - 1


def _fit(ranges: list[tuple[int, int]], n: int) -> int:
    """How many halvings (``k``) make every ``[lo, hi]`` in ``ranges`` span at most ``n`` buckets."""
    k = 0
    while any((hi >> k) - (lo >> k) + 1 > n for lo, hi in ranges):
        k += 1
    return k


def _write(cell: Any, scale: int, positive: dict[int, int], negative: dict[int, int]) -> None:
    """Rewrite ``cell``'s scale and rings in one slice assignment (a reader copying it sees old or new, whole)."""
    n = _size(cell)
    new = list(cell[:])
    new[SCALE], new[MULT] = scale, 2.0**scale
    for ring, lo_at, buckets in ((HEAD, PLO, positive), (HEAD + n, NLO, negative)):
        new[ring : ring + n] = [0] * n
        new[lo_at], new[lo_at + 1] = (min(buckets), max(buckets)) if buckets else _EMPTY
        for i, count in buckets.items():
            new[ring + i % n] += count
    cell[:] = new if isinstance(cell, list) else array("d", new)  # a mapped view (multiprocess) takes doubles


def _shift(buckets: dict[int, int], k: int) -> dict[int, int]:
    out: dict[int, int] = {}
    for i, count in buckets.items():
        out[i >> k] = out.get(i >> k, 0) + count
    return out


def widen(cell: Any, index: int, negative: bool) -> None:
    """Count bucket ``index`` (at the cell's scale) when it is outside its ring's range: widen or downscale."""
    n = _size(cell)
    index = max(index, _lowest(int(cell[SCALE])))  # subnormals share the smallest normal value's bucket
    lo_at = NLO if negative else PLO
    lo, hi = int(cell[lo_at]), int(cell[lo_at + 1])
    if lo <= index <= hi:
        cell[(HEAD + n if negative else HEAD) + index % n] += 1
        return
    lo, hi = (index, index) if lo > hi else (min(lo, index), max(hi, index))
    if hi - lo + 1 <= n:
        cell[lo_at], cell[lo_at + 1] = lo, hi
        cell[(HEAD + n if negative else HEAD) + index % n] += 1
        return
    k = _fit([(lo, hi)], n)
    positive, negatives = _shift(_buckets(cell, False), k), _shift(_buckets(cell, True), k)
    target = negatives if negative else positive
    target[index >> k] = target.get(index >> k, 0) + 1
    _write(cell, int(cell[SCALE]) - k, positive, negatives)


class ExpoSnapshot(HistogramSnapshot):
    """A merged exponential histogram: scale, zero count and the non-empty bucket ranges (with sum, min, max).

    As a ``HistogramSnapshot`` its ``counts`` is one bucket holding every observation (explicit-bucket readers
    see count, sum, min and max right).
    """

    __slots__ = ("max_size", "negative", "positive", "scale", "zero_count")

    def __init__(
        self,
        scale: int,
        zero_count: int,
        positive: dict[int, int],
        negative: dict[int, int],
        total: float,
        low: float,
        high: float,
        max_size: int,
    ) -> None:
        super().__init__([zero_count + sum(positive.values()) + sum(negative.values())], total, low, high)
        self.scale = scale
        self.zero_count = zero_count
        self.positive = positive
        self.negative = negative
        self.max_size = max_size

    @classmethod
    def of(cls, cells: Sequence[Any], max_size: int, max_scale: int) -> ExpoSnapshot:
        """The merge of ``cells`` (each copied whole first, so a concurrent downscale is never seen half-done)."""
        parts = [list(cell[:]) for cell in cells]
        scale = min([int(p[SCALE]) for p in parts], default=max_scale)
        positive: dict[int, int] = {}
        negative: dict[int, int] = {}
        zero, total, low, high = 0, 0.0, math.inf, -math.inf
        for p in parts:
            shift = int(p[SCALE]) - scale
            for mine, theirs in ((positive, _buckets(p, False)), (negative, _buckets(p, True))):
                for i, count in _shift(theirs, shift).items():
                    mine[i] = mine.get(i, 0) + count
            zero += int(p[ZERO])
            total += p[SUM]
            low, high = min(low, p[MIN]), max(high, p[MAX])
        ranges = [(min(b), max(b)) for b in (positive, negative) if b]
        k = _fit(ranges, max_size)
        if k:
            positive, negative, scale = _shift(positive, k), _shift(negative, k), scale - k
        return cls(scale, zero, positive, negative, total, low, high, max_size)

    def rescaled(self, scale: int) -> ExpoSnapshot:
        """This snapshot at a coarser (or equal) ``scale``."""
        k = self.scale - scale
        if k <= 0:
            return self
        return ExpoSnapshot(
            scale,
            self.zero_count,
            _shift(self.positive, k),
            _shift(self.negative, k),
            self.sum,
            self.min,
            self.max,
            self.max_size,
        )

    def minus(self, earlier: ExpoSnapshot) -> ExpoSnapshot | None:
        """What was recorded since ``earlier`` (delta temporality); None if ``earlier`` is not a prefix of this."""
        if earlier.scale < self.scale:
            return None
        old = earlier.rescaled(self.scale)
        diff = []
        for now, before in ((self.positive, old.positive), (self.negative, old.negative)):
            out = {i: c - before.get(i, 0) for i, c in now.items()}
            if any(c < 0 for c in out.values()) or any(i not in now for i in before):
                return None
            diff.append({i: c for i, c in out.items() if c})
        zero = self.zero_count - old.zero_count
        if zero < 0:
            return None
        return ExpoSnapshot(self.scale, zero, diff[0], diff[1], self.sum - old.sum, self.min, self.max, self.max_size)

    @staticmethod
    def dense(buckets: dict[int, int]) -> tuple[int, list[int]]:
        """``(offset, counts)`` of a bucket range as OTLP carries it (empty buckets inside it as zeros)."""
        if not buckets:
            return 0, []
        lo, hi = min(buckets), max(buckets)
        return lo, [buckets.get(i, 0) for i in range(lo, hi + 1)]

    def explicit(self) -> tuple[list[float], list[int]]:
        """The same buckets as explicit ones: ascending upper bounds and per-bucket counts (+Inf last, empty)."""
        step = 2.0**-self.scale
        bounds: list[float] = []
        counts: list[int] = []
        for i in sorted(self.negative, reverse=True):  # most negative first: (-base**(i+1), -base**i]
            bounds.append(-_pow2(i * step))
            counts.append(self.negative[i])
        if self.zero_count or (self.negative and self.positive):
            bounds.append(0.0)
            counts.append(self.zero_count)
        top = 0
        for i in sorted(self.positive):
            upper = _pow2((i + 1) * step)
            if upper == math.inf:  # the bucket reaching past the largest double is the +Inf bucket
                top += self.positive[i]
                continue
            bounds.append(upper)
            counts.append(self.positive[i])
        return bounds, [*counts, top]

    def quantile(self, q: float) -> float:
        """The q-quantile (nearest rank), estimated within its bucket; relative error at most (b-1)/(b+1)."""
        count = self.count
        if count == 0:
            return math.nan
        if q <= 0:
            return self.min
        if q >= 1:
            return self.max
        rank = max(1, math.ceil(q * count))
        step = 2.0**-self.scale
        seen = 0
        for i in sorted(self.negative, reverse=True):
            seen += self.negative[i]
            if seen >= rank:
                return max(self.min, min(self.max, -_middle(step, i)))
        seen += self.zero_count
        if seen >= rank:
            return 0.0
        for i in sorted(self.positive):
            seen += self.positive[i]
            if seen >= rank:
                return max(self.min, min(self.max, _middle(step, i)))
        return self.max


def _middle(step: float, index: int) -> float:
    """The point of bucket ``(L, U]`` whose relative distance to either edge is the same: 2LU/(L+U)."""
    return 2 * _pow2(index * step) / (1 + 1 / _pow2(step))


def _pow2(exponent: float) -> float:
    """``2 ** exponent``, or infinity past the largest double."""
    try:
        return float(2.0**exponent)
    except OverflowError:
        return math.inf


def merge_expo_cells(a: Sequence[Any], b: Sequence[Any]) -> list[Any]:
    """One cell holding what cells ``a`` and ``b`` hold (ended threads folded into the base, workers summed)."""
    return cell_of(ExpoSnapshot.of([a, b], _size(a), int(a[SCALE])))


def cell_of(snap: ExpoSnapshot) -> list[Any]:
    """A cell holding ``snap`` (its layout: ``snap.max_size`` buckets per sign)."""
    cell = new_expo_cell(snap.max_size, snap.scale)
    _write(cell, snap.scale, snap.positive, snap.negative)
    cell[ZERO], cell[SUM], cell[MIN], cell[MAX] = snap.zero_count, snap.sum, snap.min, snap.max
    return cell


def size_of(cell: Sequence[Any]) -> int:
    """``max_size`` of a cell (buckets per sign)."""
    return _size(cell)


#: Exponential cells are built lazily (their size is the family's) and merge by rescaling.
EXPO_SLOT: SlotKind = (None, merge_expo_cells)


def combine(snapshots: Sequence[ExpoSnapshot]) -> ExpoSnapshot:
    """One snapshot holding what ``snapshots`` hold (series a View merges, or workers): at their common scale."""
    first = snapshots[0]
    if len(snapshots) == 1:
        return first
    scale = min(s.scale for s in snapshots)
    positive: dict[int, int] = {}
    negative: dict[int, int] = {}
    for snap in snapshots:
        at = snap.rescaled(scale)
        for mine, theirs in ((positive, at.positive), (negative, at.negative)):
            for i, count in theirs.items():
                mine[i] = mine.get(i, 0) + count
    k = _fit([(min(b), max(b)) for b in (positive, negative) if b], first.max_size)
    return ExpoSnapshot(
        scale - k,
        sum(s.zero_count for s in snapshots),
        _shift(positive, k),
        _shift(negative, k),
        sum(s.sum for s in snapshots),
        min(s.min for s in snapshots),
        max(s.max for s in snapshots),
        first.max_size,
    )
