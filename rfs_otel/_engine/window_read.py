"""Reading a summary's window: release what expired, merge the threads' bucket counts, estimate quantiles.

A read costs the number of distinct buckets in use, not the number of samples (see ``window``).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable
from itertools import accumulate, repeat
from operator import itemgetter, sub
from typing import Any

from .._model.quantile import exact_quantile, interpolate, statistics, total, window_statistics
from .layout import WINDOW
from .sketch import WindowSketch, bucket_value, keys_of
from .window import EXACT_UP_TO, Pending, absorb, pending_of

__all__ = ["WindowView", "read_window", "window_values"]


class WindowView:
    """What a reader saw of a summary's window: bucket keys and cumulative counts (plus a small correction for
    the pending batch), count and sum, the sorted values if small."""

    __slots__ = ("delta", "exact", "high", "keys", "low", "running", "size", "swing", "total")

    def __init__(
        self,
        buckets: tuple[list[int], list[int]],
        size: int,
        total: float,
        extremes: tuple[float, float],
        exact: list[float] | None,
        delta: tuple[list[int], list[int]] = ([], []),
    ) -> None:
        self.keys, self.running = buckets  # sorted keys and cumulative counts (possibly a cache: never mutated)
        self.delta = delta  # sorted keys and cumulative count changes the pending batch makes
        self.swing = (min([0, *delta[1]]), max([0, *delta[1]]))  # how far the correction moves a count, each way
        self.size, self.total, self.exact = size, total, exact
        self.low, self.high = extremes

    def statistics(self, quantiles: Iterable[float]) -> dict[str, float]:
        """``count``, ``sum``, ``mean``, ``min``, ``max`` and one ``pNN`` per quantile."""
        if self.exact is not None:
            return window_statistics(self.exact, quantiles)
        return statistics(self.size, self.total, self.low, self.high, quantiles, self.quantile)

    def quantile(self, q: float) -> float:
        """The q-quantile: exact for small windows, else within ``ALPHA`` relative (see docs/performance.md)."""
        if self.exact is not None:
            return exact_quantile(self.exact, q)
        return min(max(self._estimate(q), self.low), self.high)  # into the exact [min, max], as the exact one is

    def _estimate(self, q: float) -> float:
        """numpy's linear interpolation between the bucket representatives of the two neighbouring ranks."""
        n = self.size
        if not n:
            return math.nan
        position = q * (n - 1)
        low = math.floor(position)
        below = self.key_at(low)
        above = below if low + 1 >= n or self.count_to(below) > low + 1 else self.key_at(low + 1)
        return interpolate(bucket_value(below), bucket_value(above), position - low)

    def count_to(self, key: int) -> int:
        """Samples in the window whose bucket key is at most ``key``."""
        i = bisect_right(self.keys, key)
        dkeys, dcum = self.delta
        j = bisect_right(dkeys, key)
        return (self.running[i - 1] if i else 0) + (dcum[j - 1] if j else 0)

    def key_at(self, rank: int) -> int:
        """The bucket key of the sample at 0-based ``rank``: bisects the cached counts, then the few pending keys.

        Buckets with a zero count are harmless: the first key whose count reaches past ``rank`` is never one.
        """
        keys, running = self.keys, self.running
        dkeys, dcum = self.delta
        if not dkeys:
            return keys[min(bisect_right(running, rank), len(keys) - 1)]
        # The correction moves a count by at most its extremes: only the cached keys in between can be the one.
        lo = bisect_right(running, rank - self.swing[1])
        hi = min(bisect_right(running, rank - self.swing[0]), len(keys))
        while lo < hi:  # the first cached key whose count (with the correction) reaches past rank
            mid = (lo + hi) // 2
            j = bisect_right(dkeys, keys[mid])
            if running[mid] + (dcum[j - 1] if j else 0) > rank:
                hi = mid
            else:
                lo = mid + 1
        before = running[lo - 1] if lo else 0
        first = bisect_right(dkeys, keys[lo - 1]) if lo else 0
        last = bisect_left(dkeys, keys[lo]) if lo < len(keys) else len(dkeys)
        for j in range(first, last):  # keys only the pending batch has, between the two cached ones
            if before + dcum[j] > rank:
                return dkeys[j]
        return keys[lo] if lo < len(keys) else dkeys[-1]


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


class _Tally:
    """A cell's pending batch as reads counted it: bucket keys of the values seen, and of the oldest held samples
    they push out of a full window. Reused while the batch only grew and the folded counts did not change, so a
    read pays for the samples recorded since the previous one, not for the whole batch."""

    __slots__ = ("adding", "batch", "gone", "high", "low", "seen", "taking", "version")

    def __init__(self, batch: list[float], version: int) -> None:
        self.batch, self.version, self.seen = batch, version, 0
        self.adding: Counter[int] = Counter()
        self.taking: Counter[int] = Counter()
        self.gone = array("d")
        self.low, self.high = math.inf, -math.inf

    def count(self, values: array[float]) -> None:
        """Count the values beyond those already seen (the batch's newest)."""
        new = values[self.seen :]
        if new:
            low, high = min(new), max(new)
            self.adding.update(keys_of(new, low))
            self.low, self.high = min(self.low, low), max(self.high, high)
            self.seen = len(values)

    def correction(self) -> tuple[list[int], list[int]]:
        """Sorted keys and the count each changes by: pending samples added, pushed-out ones taken off."""
        adding, taking = self.adding, self.taking
        keys = sorted(adding.keys() | taking.keys())
        return keys, list(map(sub, map(adding.get, keys, repeat(0)), map(taking.get, keys, repeat(0))))

    def take(self, sketch: WindowSketch, excess: int) -> None:
        """Count the ``excess`` oldest held samples as pushed out, beyond those already counted."""
        if excess < len(self.gone):  # cannot happen while the batch only grows; recounted to stay exact regardless
            self.gone, self.taking = array("d"), Counter()
        if excess > len(self.gone):
            gone, keys = sketch.oldest(excess, len(self.gone))
            self.gone.extend(gone)
            self.taking.update(keys)


def _tally(batch: list[float], sketch: WindowSketch, values: array[float]) -> _Tally:
    """The tally of pending ``batch``, reused when it counted a prefix of these same values (caller: ``reading``)."""
    tally = sketch.tally
    if not (
        isinstance(tally, _Tally)
        and tally.batch is batch
        and tally.version == sketch.version
        and tally.seen <= len(values) == len(batch)
    ):
        tally = _Tally(batch, sketch.version)
        sketch.tally = tally
    tally.count(values)
    return tally


def _release(sketch: WindowSketch, cutoff: float, keep: int) -> None:
    """Release the samples older than ``cutoff`` or beyond the newest ``keep``; forget emptied buckets now and then."""
    sketch.release(cutoff, keep, None)
    if len(sketch.added) > 2 * sketch.pruned + 256:
        sketch.prune()


def _gathered(cells: list[list[Any]], cutoff: float, keep: int) -> WindowView:
    """Every cell's counts after releasing its samples older than ``cutoff`` or beyond its newest ``keep``.

    The folded (cumulative) counts are reused from the last read when unchanged; the pending samples, and the
    oldest samples they push out of a full window, become a small sorted correction the quantile search adds.
    """
    parts: list[tuple[list[int], list[int]]] = []
    single = len(cells) == 1
    corrections: list[tuple[list[int], list[int]]] = []
    size, held, low, high = 0, 0.0, math.inf, -math.inf
    for cell in cells:
        sketch = cell[WINDOW][3]
        with sketch.reading:  # readers one at a time; the owner keeps recording and sealing meanwhile
            pending = absorb(cell, cutoff)
            values = _pending_values(pending, cutoff, keep)
            _release(sketch, cutoff, keep)
            parts.append(sketch.cumulative() if single else sketch.buckets())
            tally = _tally(pending[2], sketch, values)
            # The pending batch pushes this many of the oldest held samples out (left out, not released).
            excess = sketch.size + len(values) - keep
            tally.take(sketch, excess)
            gone = tally.gone[: max(excess, 0)]
            size += sketch.size + len(values) - max(excess, 0)
            held += sketch.held_sum() - total(gone) + total(values)
            held_low, held_high = sketch.extremes_after(excess)
            low, high = min(low, held_low, tally.low), max(high, held_high, tally.high)
            corrections.append(tally.correction())  # under the lock: another reader may grow the tally next
    if single and parts:
        buckets = parts[0]  # the sketch's cached cumulative counts: a read that only adds pending samples reuses them
    else:
        keys, nets = _merged(parts)
        buckets = (keys, list(accumulate(nets)))
    if len(corrections) == 1:
        dkeys, changes = corrections[0]
    else:
        merged: Counter[int] = Counter()
        for more, more_changes in corrections:
            for key, change in zip(more, more_changes):
                merged[key] += change
        dkeys = sorted(merged)
        changes = [merged[key] for key in dkeys]
    return WindowView(buckets, size, held, (low, high), None, (dkeys, list(accumulate(changes))))


def _newest_cutoff(cells: list[list[Any]], cutoff: float, keep: int) -> float | None:
    """The time of the ``keep``-th newest sample across cells, or None when ties at that time prevent a cut.

    Bisects on time with each cell's sorted sample times: O(samples) copying in C, O(log) probes in Python.
    """
    arrays = []
    for cell in cells:
        sketch = cell[WINDOW][3]
        with sketch.reading:
            pending = absorb(cell, cutoff)
            times = array("d")
            head = sketch.head
            for chunk in sketch.chunks:
                times.extend(chunk[0][head:])
                head = 0
            times.extend(_pending(pending, cutoff, keep)[0])
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
    return keys, list(accumulate(map(counts.__getitem__, keys)))


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


def _pending_values(pending: Pending, cutoff: float, keep: int) -> array[float]:
    """A taken pending batch's values inside the window (they share one time)."""
    values = array("d", pending[0]) if pending[1] >= cutoff else array("d")
    return values[len(values) - keep :] if len(values) > keep else values


def _pending(pending: Pending, cutoff: float, keep: int) -> tuple[array[float], array[float]]:
    """A taken pending batch's samples inside the window."""
    times, values = pending_of(pending)
    n = len(values)
    start = max(bisect_left(times, cutoff, 0, n), n - keep)
    return times[start:n], values[start:n]


def _walked(cells: list[list[Any]], cutoff: float, keep: int, exact_up_to: float = EXACT_UP_TO) -> WindowView:
    """The window from every held sample: small windows (exact quantiles) or several threads over ``keep``."""
    samples: list[tuple[float, float]] = []
    for cell in cells:
        sketch = cell[WINDOW][3]
        with sketch.reading:
            times, values = _pending(absorb(cell, cutoff), cutoff, keep)
            _release(sketch, cutoff, keep)  # what it folded beyond the window: window() may be the only reader
            samples.extend((t, v) for t, v, _ in sketch.samples() if t >= cutoff)
        samples.extend(zip(times, values))
    if len(samples) > keep:
        samples.sort(key=itemgetter(0))  # stable: samples of one time (a batch) stay in the order observed
        del samples[: len(samples) - keep]
    window = sorted(v for _, v in samples)
    extremes = (window[0], window[-1]) if window else (math.nan, math.nan)
    exact = window if len(window) <= exact_up_to else None
    return WindowView(_buckets_of(window), len(window), total(window), extremes, exact)


def window_values(cells: list[list[Any]], now: float, max_age: float, keep: int) -> list[float]:
    """The exact values in the window, sorted (alert signals merge these; cost linear in the samples held)."""
    exact = _walked(cells, now - max_age, keep, math.inf).exact
    return exact if exact is not None else []
