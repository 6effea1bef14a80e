"""Reading a summary's window: release what expired, merge the threads' bucket counts, estimate quantiles.

A read costs the number of distinct buckets in use, not the number of samples (see ``window``).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable
from functools import partial
from itertools import accumulate
from typing import Any

from .._model.quantile import exact_quantile, interpolate, statistics, total, window_statistics
from .layout import WINDOW
from .sketch import bucket_value, keys_of
from .window import EXACT_UP_TO, absorb, pending_of

__all__ = ["WindowView", "read_window", "window_values"]


class WindowView:
    """What a reader saw of a summary's window: bucket keys and counts, count and sum, the sorted values if small."""

    __slots__ = ("exact", "high", "keys", "low", "nets", "size", "total")

    def __init__(
        self,
        buckets: tuple[list[int], list[int]],
        size: int,
        total: float,
        extremes: tuple[float, float],
        exact: list[float] | None,
    ) -> None:
        self.keys, self.nets = buckets
        self.size, self.total, self.exact = size, total, exact
        self.low, self.high = extremes

    def statistics(self, quantiles: Iterable[float]) -> dict[str, float]:
        """``count``, ``sum``, ``mean``, ``min``, ``max`` and one ``pNN`` per quantile."""
        if self.exact is not None:
            return window_statistics(self.exact, quantiles)
        cumulative = list(accumulate(self.nets))
        return statistics(self.size, self.total, self.low, self.high, quantiles, partial(self._clamped, cumulative))

    def quantile(self, q: float) -> float:
        """The q-quantile: exact for small windows, else within ``ALPHA`` relative (see docs/performance.md)."""
        if self.exact is not None:
            return exact_quantile(self.exact, q)
        return self._clamped(list(accumulate(self.nets)), q)

    def _clamped(self, cumulative: list[int], q: float) -> float:
        """The estimate, moved into the window's exact [min, max] (which holds the exact quantile too)."""
        return min(max(_estimate(self.keys, cumulative, q), self.low), self.high)


def _estimate(keys: list[int], cumulative: list[int], q: float) -> float:
    """numpy's linear interpolation between the bucket representatives of the two neighbouring ranks.

    Buckets with a zero count are harmless: ``bisect_right`` skips them.
    """
    n = cumulative[-1] if cumulative else 0
    if not n:
        return math.nan
    position = q * (n - 1)
    low = math.floor(position)
    high = min(low + 1, n - 1)
    below = bucket_value(keys[bisect_right(cumulative, low)])
    above = bucket_value(keys[bisect_right(cumulative, high)])
    return interpolate(below, above, position - low)


def read_window(cells: list[list[Any]], now: float, max_age: float, keep: int) -> WindowView:
    """Release what each cell holds beyond the window, then merge the cells' counts (cost: buckets, not samples).

    When several threads together hold more than ``keep`` samples, the oldest are found by bisecting on time
    over their (sorted) sample times and released, so later reads only pay for what arrived since.
    """
    cutoff = now - max_age
    view = _gathered(cells, cutoff, keep)
    for _ in range(3 if len(cells) > 1 else 0):  # retried while other threads record during the read
        if view.size <= keep:
            break
        newest = _newest_cutoff(cells, cutoff, keep)
        if newest is None:
            break
        cutoff = newest
        view = _gathered(cells, cutoff, keep)
    # A sum that overflowed in parts (huge values of both signs) is recounted from the samples, exactly.
    if view.size > keep or view.size <= EXACT_UP_TO or not math.isfinite(view.total):
        return _walked(cells, cutoff, keep)
    return view


def _gathered(cells: list[list[Any]], cutoff: float, keep: int) -> WindowView:
    """Every cell's counts after releasing its samples older than ``cutoff`` or beyond its newest ``keep``.

    The folded counts are reused from the last read when unchanged; pending samples are added and the oldest
    samples they push out of a full window are taken off, per distinct bucket.
    """
    parts: list[tuple[list[int], list[int]]] = []
    adding: Counter[int] = Counter()
    taking: Counter[int] = Counter()
    size, held, low, high = 0, 0.0, math.inf, -math.inf
    for cell in cells:
        sketch = cell[WINDOW][3]
        with sketch.lock:  # the owner swaps its pending batch only under the lock: no sample is seen twice
            absorb(cell, cutoff)
            values = _pending(cell, cutoff, keep)[1]
            sketch.release(cutoff, keep, None)
            if len(sketch.added) > 2 * sketch.pruned + 256:
                sketch.prune()
            parts.append(sketch.buckets())
            # The pending batch pushes this many of the oldest held samples out (left out, not released).
            excess = sketch.size + len(values) - keep
            if excess > 0:
                gone, gone_keys = sketch.oldest(excess)
                taking.update(gone_keys)
                held -= total(gone)
            size += sketch.size + len(values) - max(excess, 0)
            held += sketch.held_sum()
            held_low, held_high = sketch.extremes_after(excess)
        if values:
            low, high = min(low, held_low, *values), max(high, held_high, *values)
            adding.update(keys_of(values, low))
            held += total(values)
        else:
            low, high = min(low, held_low), max(high, held_high)
    keys, nets = _merged(parts)
    for counts, sign in ((adding, 1), (taking, -1)):
        for key, count in counts.items():
            i = bisect_left(keys, key)
            if i < len(keys) and keys[i] == key:
                nets[i] += sign * count
            else:
                keys.insert(i, key)
                nets.insert(i, sign * count)
    return WindowView((keys, nets), size, held, (low, high), None)


def _newest_cutoff(cells: list[list[Any]], cutoff: float, keep: int) -> float | None:
    """The time of the ``keep``-th newest sample across cells, or None when ties at that time prevent a cut.

    Bisects on time with each cell's sorted sample times: O(samples) copying in C, O(log) probes in Python.
    """
    arrays = []
    for cell in cells:
        sketch = cell[WINDOW][3]
        with sketch.lock:
            absorb(cell, cutoff)
            times = array("d")
            head = sketch.head
            for chunk in sketch.chunks:
                times.extend(chunk[0][head:])
                head = 0
            times.extend(_pending(cell, cutoff, keep)[0])
        if times:
            arrays.append(times)

    def newer(t: float) -> int:
        return sum(len(times) - bisect_left(times, t) for times in arrays)

    low, high = min(times[0] for times in arrays), max(times[-1] for times in arrays)
    for _ in range(80):  # halves [low, high] down to adjacent doubles
        middle = low + (high - low) / 2
        if middle in (low, high):
            break
        low, high = (middle, high) if newer(middle) >= keep else (low, middle)
    found = [times[i] for times in arrays if (i := bisect_left(times, low)) < len(times)]
    if not found:
        return None
    newest = min(found)
    return newest if newer(newest) == keep else None  # None: several samples share that time


def _buckets_of(values: Iterable[float]) -> tuple[list[int], list[int]]:
    batch = array("d", values)
    counts = Counter(keys_of(batch, min(batch, default=0.0)))
    keys = sorted(counts)
    return keys, [counts[k] for k in keys]


def _merged(parts: list[tuple[list[int], list[int]]]) -> tuple[list[int], list[int]]:
    """One sorted (keys, counts) from several: small parts (pending batches) are inserted into the largest."""
    parts = sorted((part for part in parts if part[0]), key=lambda part: len(part[0]))
    if not parts:
        return [], []
    keys, nets = parts.pop()
    if sum(len(part[0]) for part in parts) > 256:
        counts: Counter[int] = Counter(dict(zip(keys, nets)))
        for more, more_nets in parts:
            for k, c in zip(more, more_nets):
                counts[k] += c
        keys = sorted(counts)
        return keys, [counts[k] for k in keys]
    for more, more_nets in parts:
        for k, c in zip(more, more_nets):
            i = bisect_left(keys, k)
            if i < len(keys) and keys[i] == k:
                nets[i] += c
            else:
                keys.insert(i, k)
                nets.insert(i, c)
    return keys, nets


def _pending(cell: list[Any], cutoff: float, keep: int) -> tuple[array[float], array[float]]:
    """The cell's pending samples inside the window (caller holds its sketch's lock)."""
    times, values = pending_of(cell)
    n = len(values)
    start = max(bisect_left(times, cutoff, 0, n), n - keep)
    return times[start:n], values[start:n]


def _walked(cells: list[list[Any]], cutoff: float, keep: int, exact_up_to: float = EXACT_UP_TO) -> WindowView:
    """The window from every held sample: small windows (exact quantiles) or several threads over ``keep``."""
    samples: list[tuple[float, float]] = []
    for cell in cells:
        sketch = cell[WINDOW][3]
        with sketch.lock:
            absorb(cell, cutoff)
            times, values = _pending(cell, cutoff, keep)
            samples.extend((t, v) for t, v, _ in sketch.samples() if t >= cutoff)
        samples.extend(zip(times, values))
    if len(samples) > keep:
        samples.sort()
        del samples[: len(samples) - keep]
    window = sorted(v for _, v in samples)
    extremes = (window[0], window[-1]) if window else (math.nan, math.nan)
    exact = window if len(window) <= exact_up_to else None
    return WindowView(_buckets_of(window), len(window), total(window), extremes, exact)


def window_values(cells: list[list[Any]], now: float, max_age: float, keep: int) -> list[float]:
    """The exact values in the window, sorted (alert signals merge these; cost linear in the samples held)."""
    exact = _walked(cells, now - max_age, keep, math.inf).exact
    return exact if exact is not None else []
