"""``ExponentialHistogram``: a histogram series aggregating as an OTel base-2 exponential histogram.

Same hot path shape as the explicit-bucket ``Histogram``: the calling thread's own cell, no lock. The bucket
index is ``ceil(log2(v) * 2**scale) - 1`` at the cell's current scale (exact at powers of two, see
``expo.near_bound``); a value outside the cell's range widens
it (rarely: downscales it, see ``expo``).
"""

from __future__ import annotations

import math
from typing import Any

from .._model.validation import LabelKey, check_quantile
from .backend import FamilyInfo, SlotStore
from .expo import HEAD, MAX, MIN, MULT, NHI, NLO, PHI, PLO, SUM, ZERO, ExpoSnapshot, near_bound, new_expo_cell, widen
from .layout import HistogramSnapshot, histogram_value
from .numbers import checked_number
from .series import Histogram, Labels

__all__ = ["ExponentialHistogram"]

_ceil = math.ceil
_log2 = math.log2


class ExponentialHistogram(Histogram):
    """A distribution in base-2 exponential buckets (``max_size`` buckets per sign, scale at most ``max_scale``).

    ``get_quantile(q)`` is within a relative error of ``(b - 1) / (b + 1)`` of the nearest-rank quantile,
    ``b = 2 ** 2 ** -scale`` the bucket base at the scale reached (about 4.3% at scale 3, 1.1% at scale 5).
    """

    __slots__ = ("_max_scale", "_n", "_neg")

    def __init__(self, family: FamilyInfo, label_key: LabelKey, cells: SlotStore, slot: int) -> None:
        super().__init__(family, label_key, cells, slot)
        max_size, max_scale = family.exponential or (160, 20)
        self._n = max_size
        self._neg = HEAD + max_size
        self._max_scale = max_scale

    @property
    def scale(self) -> int:
        """The scale of the merged buckets now (it only goes down as the range of values grows)."""
        return self.snapshot().scale

    def observe(self, value: float, labels: Labels | None = None) -> None:  # noqa: PLR0912 (hot path, inlined)
        """Record one observation (in the child series ``labels`` selects, if given); NaN, infinities and
        non-numbers raise ValueError and record nothing."""
        if labels:
            self.child(labels).observe(value)
            return
        if value.__class__ is not float or value - value:
            value = checked_number("histogram", self.name, "observe", value)
        try:
            cell = self._local.cells[self._slot]
            cell[SUM] += value
        except (AttributeError, IndexError, TypeError):
            cell = self._cell()
            cell[SUM] += value
        if value > 0.0:
            x = _log2(value) * cell[MULT]
            i = _ceil(x) - 1
            if x - i > 0.999:  # within a thousandth of a bucket under its bound: log2's last bit may mislead
                i = near_bound(value, cell[MULT])
            if cell[PLO] <= i <= cell[PHI]:
                cell[HEAD + i % self._n] += 1
            else:
                widen(cell, i, False)
        elif value < 0.0:
            x = _log2(-value) * cell[MULT]
            i = _ceil(x) - 1
            if x - i > 0.999:
                i = near_bound(-value, cell[MULT])
            if cell[NLO] <= i <= cell[NHI]:
                cell[self._neg + i % self._n] += 1
            else:
                widen(cell, i, True)
        else:
            cell[ZERO] += 1
        if value < cell[MIN]:
            cell[MIN] = value
        if value > cell[MAX]:
            cell[MAX] = value

    def _new_cell(self) -> list[Any]:
        return new_expo_cell(self._n, self._max_scale)

    def observe_with_exemplar(self, value: float, trace_id: int, span_id: int) -> None:
        """Observe ``value`` (exponential histograms keep no exemplars)."""
        self.observe(value)

    def snapshot(self) -> ExpoSnapshot:
        """Scale, zero count, buckets, sum, min and max merged across threads."""
        return ExpoSnapshot.of(self._cells.values(self._slot), self._n, self._max_scale)

    def get_quantile(self, q: float) -> float:
        """Estimate the q-quantile from the exponential buckets, within [min, max] (see the class for the bound)."""
        return self.snapshot().quantile(check_quantile(self.name, q))

    def get_value(self) -> dict[str, Any]:
        """``{"count", "sum", "buckets": {upper bound: cumulative count}, "scale"}`` over the non-empty range."""
        return expo_value(self.snapshot())


def expo_value(snap: ExpoSnapshot) -> dict[str, Any]:
    """An exponential snapshot as ``Histogram.get_value`` shapes it, plus its ``scale``."""
    bounds, counts = snap.explicit()
    value = histogram_value(tuple(bounds), HistogramSnapshot(counts, snap.sum, snap.min, snap.max))
    value["scale"] = snap.scale
    return value
