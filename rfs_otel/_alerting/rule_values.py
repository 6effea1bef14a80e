"""What a threshold rule compares: a current value, a rate, a ratio of increases or a windowed quantile."""

from __future__ import annotations

import math
from collections.abc import Mapping

from .rules import LONGEST_BURN_WINDOW, Aggregation, AlertRule
from .signals import History, Signals, increase, windowed_quantile

__all__ = ["RuleValues"]

_HistoryKey = tuple[str, str, tuple[tuple[str, str], ...], float]


class RuleValues:
    """Evaluates rules' values against one collector, keeping the signal histories that rates need."""

    def __init__(self, signals: Signals) -> None:
        self._signals = signals
        self._histories: dict[_HistoryKey, History] = {}

    def groups(self, rule: AlertRule) -> list[dict[str, str]]:
        """The label sets ``rule`` evaluates separately now; ``[{}]`` (one alert) when summing or nothing matches."""
        if rule.by == ():
            return [{}]
        by = None if rule.by is None else tuple(rule.by)
        return self._signals.groups(rule.metric, rule.label_filter, by) or [{}]

    def value(self, rule: AlertRule, now: float, group: Mapping[str, str] | None = None) -> float:
        """The rule's value at ``now`` for the series of ``group`` (NaN when absent); records what windows need."""
        labels = {**rule.label_filter, **(group or {})}
        if rule.aggregation is Aggregation.VALUE:
            return self._signals.value(rule.metric, labels)
        if rule.aggregation is Aggregation.RATE:
            current = self._signals.value(rule.metric, labels)
            history = self._history("value", rule.metric, labels, rule.window, rule.window)
            inc, span = increase(history, now, current, rule.window)
            history.add(now, current)
            return inc / span if span > 0 else math.nan
        if rule.aggregation is Aggregation.RATIO:
            assert rule.denominator is not None
            num = self._counter_increase(rule.metric, labels, now, rule.window)
            den = self._counter_increase(rule.denominator, labels, now, rule.window)
            return num / den if den > 0 else math.nan
        return self._quantile(rule, labels, now)

    def _quantile(self, rule: AlertRule, labels: Mapping[str, str], now: float) -> float:
        summary = self._signals.summary_quantile(rule.metric, labels, rule.quantile)
        if summary is not None:
            return summary
        current = self._signals.histogram(rule.metric, labels)
        if current is None:
            return math.nan
        history = self._history("hist", rule.metric, labels, rule.window, rule.window)
        value = windowed_quantile(history, now, current, rule.window, rule.quantile)
        history.add(now, (current[0], current[1]))  # bounds too: an exponential histogram's may change
        return value

    def _counter_increase(self, metric: str, labels: Mapping[str, str], now: float, window: float) -> float:
        current = self._signals.value(metric, labels)
        history = self._history("value", metric, labels, min(window, LONGEST_BURN_WINDOW), window)
        inc, _ = increase(history, now, current, window)
        history.add(now, current)
        return inc

    def _history(self, kind: str, metric: str, labels: Mapping[str, str], dense: float, horizon: float) -> History:
        key = (kind, metric, tuple(sorted(labels.items())), horizon)
        history = self._histories.get(key)
        if history is None:
            history = self._histories[key] = History(dense, horizon)
        return history
