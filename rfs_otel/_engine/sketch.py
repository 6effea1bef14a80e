"""A thread's folded summary samples: log-linear bucket keys from float bit patterns and the window sketch.

A key is a value's sign, exponent and top ``MANTISSA_BITS`` mantissa bits (an HDR-style log-linear mapping, as
DDSketch's but without a logarithm), reordered so keys sort like values; computed for a whole batch in C.
"""

from __future__ import annotations

import math
import threading
from array import array
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Iterator
from itertools import accumulate, repeat
from operator import rshift, sub
from struct import pack, unpack

from .._model.quantile import total

__all__ = ["ALPHA", "MANTISSA_BITS", "Chunk", "WindowSketch", "bucket_value", "key_of", "keys_of"]

#: Mantissa bits a bucket key keeps: buckets are 2**-MANTISSA_BITS wide relative to their lower edge.
MANTISSA_BITS = 7
_SHIFT = 52 - MANTISSA_BITS
#: Relative accuracy of a bucket: every value is within ``ALPHA`` (relative) of its bucket's representative.
ALPHA = 2.0 ** -(MANTISSA_BITS + 1)
_HALF = 1 << (_SHIFT - 1)
#: The key of -0.0 (the sign bit alone): negative values' raw keys are in [_SIGN, -1], reversed to sort like values.
_SIGN = -(1 << (63 - _SHIFT))

#: Folded samples: (times, values, bucket keys, lowest value, highest value, sum of the values).
Chunk = tuple["array[float]", "array[float]", "array[int]", float, float, float]


def key_of(value: float) -> int:
    """The bucket key of ``value``: its bit pattern's sign, exponent and top mantissa bits, ordered like values."""
    key: int = unpack("<q", pack("<d", value))[0] >> _SHIFT
    return key if key >= 0 else _SIGN - 1 - key


def keys_of(values: array[float], low: float) -> array[int]:
    """The bucket keys of ``values`` (lowest ``low``): C-level shifts of their bit patterns when none is negative."""
    raw = memoryview(values).cast("B").cast("q")
    if low >= 0.0:
        return array("q", map(rshift, raw, repeat(_SHIFT)))
    return array("q", [k if k >= 0 else _SIGN - 1 - k for k in map(rshift, raw, repeat(_SHIFT))])


def bucket_value(key: int) -> float:
    """The representative of bucket ``key`` (its middle): within ``ALPHA`` relative of every value it holds."""
    if key in {0, -1}:  # zero (and -0.0)
        return 0.0
    raw = key if key >= 0 else _SIGN - 1 - key
    value: float = unpack("<d", pack("<q", (raw << _SHIFT) | _HALF))[0]
    return value


class WindowSketch:
    """One thread's folded samples: a time-ordered ring of chunks plus the bucket counts of what it holds.

    The owner thread folds and releases under ``lock``; readers take the same lock to release and copy.
    """

    __slots__ = (
        "added",
        "bounds",
        "cached",
        "chunks",
        "compensation",
        "dropped",
        "head",
        "head_sum",
        "highs",
        "keys",
        "lock",
        "lows",
        "pruned",
        "reading",
        "removed",
        "sealed",
        "sealed_size",
        "size",
        "tally",
        "total",
        "version",
    )

    def __init__(self, bounds: tuple[float, ...] = ()) -> None:
        self.lock = threading.Lock()  # the owner's hand-over (sealed batches, the pending batch): held briefly
        self.reading = threading.Lock()  # readers, one at a time, over everything else: the owner never takes it
        self.bounds = bounds  # the summary's cumulative histogram buckets
        # Batches the owner sealed and no reader has folded yet: (time, values); readers fold them.
        self.sealed: deque[tuple[float, list[float]]] = deque()
        self.sealed_size = 0
        # The time of the newest batch the owner dropped unread (or -inf): readers release what is as old.
        self.dropped = -math.inf
        self.chunks: deque[Chunk] = deque()
        # Sliding-window minimum/maximum: chunks whose low (high) is below (above) every later chunk's.
        self.lows: deque[Chunk] = deque()
        self.highs: deque[Chunk] = deque()
        # Samples per bucket ever folded, and ever released: C-level counting both ways (net = added - removed).
        self.added: Counter[int] = Counter()
        self.removed: Counter[int] = Counter()
        self.head = self.size = self.pruned = 0
        self.head_sum = 0.0  # the sum of the oldest chunk's samples still held
        self.keys: list[int] = []  # sorted keys of ``counts`` as of the last read (keys are only added)
        self.total = self.compensation = 0.0
        self.version = 0  # changes whenever the counts do: reads reuse ``cached`` until then
        self.cached: tuple[int, list[int], list[int], list[int] | None] = (-1, [], [], None)
        self.tally: object = None  # the readers' count of the pending batch, reused while it only grows

    def fold(self, times: array[float], values: array[float], low: float, high: float) -> None:
        """Add a batch of (time, value) samples, newer than any held, lowest ``low`` (caller holds ``lock``)."""
        keys = keys_of(values, low)
        self.added.update(keys)
        self.version += 1
        batch_sum = total(values)
        chunk = (times, values, keys, low, high, batch_sum)
        self.chunks.append(chunk)
        lows, highs = self.lows, self.highs
        while lows and lows[-1][3] >= low:
            lows.pop()
        lows.append(chunk)
        while highs and highs[-1][4] <= high:
            highs.pop()
        highs.append(chunk)
        self.size += len(values)
        if len(self.chunks) == 1:
            self.head_sum = batch_sum
        self._add(batch_sum)

    def _add(self, x: float) -> None:
        """Neumaier-compensated running sum (a huge value passing through does not wipe out the small ones)."""
        total = self.total
        t = total + x
        if abs(total) >= abs(x):
            self.compensation += (total - t) + x
        else:
            self.compensation += (x - t) + total
        self.total = t

    def release(self, cutoff: float, keep: int, budget: int | None) -> None:
        """Drop samples older than ``cutoff`` or beyond the newest ``keep``, at most ``budget`` (caller holds lock).

        Released keys are counted in ``removed`` (C-level); buckets whose net count is zero stay until pruned.
        """
        chunks = self.chunks
        if (chunks and chunks[-1][0][-1] < cutoff) or keep <= 0:
            self.clear()
            return
        removed = self.removed
        while chunks and (budget is None or budget > 0):
            times, values, keys = chunks[0][:3]
            head, n = self.head, len(values)
            end = max(bisect_left(times, cutoff, head, n), head + self.size - keep)
            end = min(n, end if budget is None else min(end, head + budget))
            if end <= head:
                return
            removed.update(keys[head:end])
            self.version += 1
            # Subtract what was added for these samples, then add back the rest exactly: a huge value
            # leaving does not take the rounding of its batch's sum with it.
            self._add(-self.head_sum)
            self.head_sum = total(values[end:]) if end < n else 0.0
            self._add(self.head_sum)
            self.size -= end - head
            if budget is not None:
                budget -= end - head
            if end == n:
                gone = chunks.popleft()
                if self.lows[0] is gone:
                    self.lows.popleft()
                if self.highs[0] is gone:
                    self.highs.popleft()
                self.head = 0
                self.head_sum = chunks[0][5] if chunks else 0.0
            else:
                self.head = end
        if not self.size:
            self.total = self.compensation = 0.0

    def buckets(self) -> tuple[list[int], list[int]]:
        """Sorted bucket keys and the samples held in each, recounted only when the counts changed (caller locks)."""
        keys, nets = self._counted()
        return list(keys), list(nets)

    def cumulative(self) -> tuple[list[int], list[int]]:
        """Sorted bucket keys and cumulative counts, cached until the counts change (caller locks; read-only lists)."""
        keys, nets = self._counted()
        version, _, _, running = self.cached
        if running is None:
            running = list(accumulate(nets))
            self.cached = (version, keys, nets, running)
        return keys, running

    def _counted(self) -> tuple[list[int], list[int]]:
        """The cached sorted keys and per-bucket counts, recounted when the counts changed (caller holds lock)."""
        version, keys, nets, _ = self.cached
        if version != self.version:
            keys = self.sorted_keys()
            nets = self.net_counts(keys)
            self.cached = (self.version, keys, nets, None)
        return keys, nets

    def sorted_keys(self) -> list[int]:
        """A sorted copy of the bucket keys, re-sorted only when keys were added since (caller holds ``lock``)."""
        if len(self.keys) != len(self.added):
            self.keys = sorted(self.added)
        return list(self.keys)

    def net_counts(self, keys: list[int]) -> list[int]:
        """Samples held per bucket, for ``keys`` (caller holds ``lock``)."""
        return list(map(sub, map(self.added.__getitem__, keys), map(self.removed.get, keys, repeat(0))))

    def prune(self) -> None:
        """Forget buckets whose count fell to zero (caller holds ``lock``)."""
        removed = self.removed
        self.added = Counter({k: c - removed[k] for k, c in self.added.items() if c != removed[k]})
        self.removed = Counter()
        self.keys = []
        self.pruned = len(self.added)
        self.version += 1

    def held_sum(self) -> float:
        """The sum of the held samples (recounted exactly after an overflow to infinity; caller holds ``lock``)."""
        held = self.total + self.compensation
        if not (math.isfinite(held) and math.isfinite(self.total)):
            held = total(v for _, v, _ in self.samples())
            self.total, self.compensation = (held, 0.0) if math.isfinite(held) else (math.nan, 0.0)
        return held

    def clear(self) -> None:
        """Release everything (caller holds ``lock``)."""
        self.chunks.clear()
        self.lows.clear()
        self.highs.clear()
        self.added, self.removed = Counter(), Counter()
        self.keys = []
        self.version += 1
        self.head = self.size = 0
        self.total = self.compensation = self.head_sum = 0.0

    def extremes(self) -> tuple[float, float]:
        """The exact lowest and highest value held (caller holds ``lock``; O(1) besides the oldest chunk)."""
        if not self.size:
            return math.inf, -math.inf
        head, first = self.head, self.chunks[0]
        low, high = min(first[1][head:]), max(first[1][head:])
        lows, highs = self.lows, self.highs
        # The first entry that is not the partly released oldest chunk: the extreme of every later chunk.
        later_lows = [lows[i][3] for i in range(min(2, len(lows))) if lows[i] is not first][:1]
        later_highs = [highs[i][4] for i in range(min(2, len(highs))) if highs[i] is not first][:1]
        return min([low, *later_lows]), max([high, *later_highs])

    def oldest(self, n: int, skip: int = 0) -> tuple[array[float], array[int]]:
        """The values and keys of the ``n`` oldest samples held, less the ``skip`` oldest (caller holds ``lock``)."""
        values, keys = array("d"), array("q")
        head, n = self.head + skip, n - skip
        for _, chunk_values, chunk_keys, *_ in self.chunks:
            if len(values) >= n:
                break
            if head >= len(chunk_values):
                head -= len(chunk_values)
                continue
            end = min(len(chunk_values), head + n - len(values))
            values.extend(chunk_values[head:end])
            keys.extend(chunk_keys[head:end])
            head = 0
        return values, keys

    def extremes_after(self, skip: int) -> tuple[float, float]:
        """The exact lowest and highest value held, leaving out the ``skip`` oldest (caller holds ``lock``).

        The monotonic chunk deques give every later chunk's extreme at once; only the partly left chunk is scanned.
        """
        if skip <= 0:
            return self.extremes()
        head, passed = self.head + skip, set()
        for chunk in self.chunks:
            if head < len(chunk[1]):
                break
            passed.add(id(chunk))
            head -= len(chunk[1])
        else:
            return math.inf, -math.inf
        passed.add(id(chunk))
        part = chunk[1][head:]
        low, high = min(part), max(part)
        later_low = next((c[3] for c in self.lows if id(c) not in passed), math.inf)
        later_high = next((c[4] for c in self.highs if id(c) not in passed), -math.inf)
        return min(low, later_low), max(high, later_high)

    def samples(self) -> Iterator[tuple[float, float, int]]:
        """The held (time, value, key) samples, oldest first (caller holds ``lock``)."""
        head = self.head
        for times, values, keys, *_ in list(self.chunks):
            yield from zip(times[head:], values[head:], keys[head:])
            head = 0

    def copy(self) -> WindowSketch:
        """An independent copy (caller holds ``reading``)."""
        other = WindowSketch(self.bounds)
        other.sealed, other.sealed_size = deque(self.sealed), self.sealed_size
        other.chunks = deque(self.chunks)  # chunks are never mutated, only dropped
        other.lows, other.highs = deque(self.lows), deque(self.highs)
        other.added, other.removed = Counter(self.added), Counter(self.removed)
        other.keys = list(self.keys)
        other.head, other.size, other.head_sum = self.head, self.size, self.head_sum
        other.total, other.compensation = self.total, self.compensation
        return other
