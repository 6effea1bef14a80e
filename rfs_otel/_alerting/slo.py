"""SLO maths: good and total events, burn rates over windows, the error budget left, and burn alerts' names."""

from __future__ import annotations

import math

from .model import alert_annotations
from .rules import LONGEST_BURN_WINDOW, SLO, BurnWindow
from .signals import History, Signals

__all__ = [
    "SloMeter",
    "budget_remaining",
    "burn_alert_annotations",
    "burn_alert_labels",
    "burn_alert_name",
    "burn_rate",
    "good_total",
]

#: Cumulative (good events, total events) of an SLO since its metrics were created.
GoodTotal = tuple[float, float]


def good_total(slo: SLO, signals: Signals) -> GoodTotal | None:
    """The SLO's cumulative (good, total) now: its two counters, or a latency histogram's observations at or
    under the threshold and all of them; None while the histogram does not exist (NaNs for absent counters)."""
    labels = dict(slo.labels or {})
    if slo.good is not None and slo.total is not None:
        return signals.value(slo.good, labels), signals.value(slo.total, labels)
    assert slo.latency_metric is not None and slo.latency_threshold is not None
    current = signals.histogram(slo.latency_metric, labels)
    if current is None:
        return None
    bounds, counts, _, _ = current
    fast = sum(count for bound, count in zip(bounds, counts) if bound <= slo.latency_threshold)
    return float(fast), float(sum(counts))


def burn_rate(good: float, total: float, error_budget: float) -> float:
    """How many times faster than allowed the budget burns: the bad share over ``error_budget``; NaN
    without traffic."""
    if not total or math.isnan(total):
        return math.nan
    return (1.0 - good / total) / error_budget


def budget_remaining(good: float, total: float, error_budget: float) -> float:
    """Share of the error budget left (1.0 untouched, 0 spent, negative overspent); 1.0 without traffic."""
    if total <= 0:
        return 1.0
    return 1.0 - burn_rate(good, total, error_budget)


class SloMeter:
    """One SLO's history of cumulative (good, total): burn rates over windows, budget left over its window."""

    def __init__(self, slo: SLO, signals: Signals) -> None:
        self.slo = slo
        self._signals = signals
        self._history = History(LONGEST_BURN_WINDOW, max(slo.window, LONGEST_BURN_WINDOW))

    def burn_value(self, window: BurnWindow, now: float) -> float:
        """A burn alert's value: the lesser of the burn rates over its long and short windows; records a sample."""
        current = good_total(self.slo, self._signals)
        if current is None:
            return math.nan
        long_burn, short_burn = (
            burn_rate(*self._increase(now, current, seconds), self.slo.error_budget)
            for seconds in (window.long_window, window.short_window)
        )
        self._history.add(now, current)
        return min(long_burn, short_burn)

    def budget_remaining(self, now: float) -> float:
        """Share of the error budget left over the SLO's window; NaN before any sample was recorded."""
        current = good_total(self.slo, self._signals)
        if current is None:
            return math.nan
        return budget_remaining(*self._increase(now, current, self.slo.window), self.slo.error_budget)

    def _increase(self, now: float, current: GoodTotal, seconds: float) -> GoodTotal:
        """(good, total) events during the last ``seconds``; NaNs without a sample to start from."""
        past = self._history.at_or_before(now - seconds)
        if past is None:
            return math.nan, math.nan
        return current[0] - past[1][0], current[1] - past[1][1]


def burn_alert_name(slo: SLO, window: BurnWindow) -> str:
    """``<slo>_burn_rate_<window>``, e.g. ``checkout_burn_rate_fast``."""
    return f"{slo.name}_burn_rate_{window.name}"


def burn_alert_labels(slo: SLO, window: BurnWindow) -> dict[str, str]:
    """The window's severity, the SLO's name and the SLO's own labels."""
    return {"severity": window.severity, "slo": slo.name, **dict(slo.labels or {})}


def burn_alert_annotations(slo: SLO, window: BurnWindow) -> dict[str, str]:
    """The SLO's summary (by default one naming the burn rate) and description."""
    summary = slo.summary or f"SLO {slo.name} burning error budget {window.burn_rate:g}x too fast"
    return alert_annotations(summary, slo.description)
