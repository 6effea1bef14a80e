"""In-process alert evaluation: rule states (pending, firing, resolved), SLO burn rates, notifications."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .._collector import MetricsCollector
from .._default import get_metrics_collector
from .notifiers import CallbackNotifier, Notifier
from .rules import BURN_RATE_WINDOWS, SLO, Aggregation, AlertCondition, AlertRule
from .signals import History, Signals, increase, windowed_quantile

__all__ = [
    "Alert",
    "AlertManager",
    "AlertState",
    "AlertEvaluator",
    "create_alert_rule",
    "get_alert_manager",
]

_log = logging.getLogger("rfs_otel.alerts")


class AlertState(str, Enum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass
class Alert:
    """One rule's current alert: its state, the last evaluated value and when it fired or resolved."""

    name: str
    state: AlertState = AlertState.INACTIVE
    value: float = math.nan
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    pending_since: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    last_notified: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the webhook body)."""
        return {
            "name": self.name,
            "state": self.state.value,
            "value": None if math.isnan(self.value) else self.value,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }


@dataclass
class _Tracked:
    rule: AlertRule | None
    slo: SLO | None
    alert: Alert
    notifiers: list[Notifier]
    condition: AlertCondition = AlertCondition.GREATER_THAN
    threshold: float = 0.0
    for_seconds: float = 0.0
    repeat_interval: float | None = None
    burn: tuple[str, float, float, float, str] | None = None


class AlertManager:
    """Evaluates rules and SLOs against a collector and notifies on state changes.

    Not Prometheus' Alertmanager (``AlertmanagerNotifier`` talks to that): this is the RFS
    ``AlertManager``, evaluated in-process; ``AlertEvaluator`` is the same class.
    """

    def __init__(
        self,
        collector: MetricsCollector | None = None,
        rules: Iterable[AlertRule | SLO] = (),
        notifiers: Iterable[Notifier | Callable[[Alert], Any]] = (),
        interval: float = 15,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not (isinstance(interval, (int, float)) and interval > 0):
            raise ValueError(f"AlertManager interval must be a positive number of seconds, got {interval!r}")
        self.collector = collector or get_metrics_collector()
        self.interval = float(interval)
        self._clock = clock or time.time
        self._signals = Signals(self.collector)
        self._notifiers = [n if isinstance(n, Notifier) else CallbackNotifier(n) for n in notifiers]
        self._tracked: list[_Tracked] = []
        self._slos: dict[str, SLO] = {}
        self._histories: dict[tuple[Any, ...], History] = {}
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = threading.Event()
        for rule in rules:
            self.add(rule)

    # -- rules --------------------------------------------------------------------------------

    def add(self, rule: AlertRule | SLO, notifiers: Iterable[Notifier | Callable[[Alert], Any]] = ()) -> None:
        """Add a rule or an SLO (an SLO becomes one alert per burn-rate window pair)."""
        extra = [n if isinstance(n, Notifier) else CallbackNotifier(n) for n in notifiers]
        with self._lock:
            if isinstance(rule, SLO):
                if rule.name in self._slos:
                    raise ValueError(f"an SLO named {rule.name!r} is already registered")
                self._slos[rule.name] = rule
                for pair in BURN_RATE_WINDOWS:
                    name = f"{rule.name}_burn_rate_{pair[0]}"
                    alert = Alert(
                        name,
                        labels={"severity": pair[4], "slo": rule.name, **dict(rule.labels or {})},
                        annotations=_annotations(
                            rule.summary or f"SLO {rule.name} burning error budget {pair[3]:g}x too fast",
                            rule.description,
                        ),
                    )
                    self._tracked.append(_Tracked(None, rule, alert, extra, threshold=pair[3], burn=pair))
                return
            if not isinstance(rule, AlertRule):
                raise TypeError(f"AlertManager takes AlertRule or SLO objects, got {rule!r}")
            if any(t.alert.name == rule.name for t in self._tracked):
                raise ValueError(f"an alert rule named {rule.name!r} is already registered")
            if rule.callback is not None:
                extra.append(CallbackNotifier(rule.callback))
            alert = Alert(
                rule.name,
                labels={"severity": rule.severity, **rule.label_filter},
                annotations=_annotations(rule.summary, rule.description),
            )
            self._tracked.append(
                _Tracked(
                    rule,
                    None,
                    alert,
                    extra,
                    condition=AlertCondition.parse(rule.condition),
                    threshold=float(rule.threshold),
                    for_seconds=float(rule.for_seconds),
                    repeat_interval=rule.repeat_interval,
                )
            )

    def rules(self) -> list[AlertRule | SLO]:
        """The registered rules and SLOs."""
        out: list[AlertRule | SLO] = []
        for tracked in self._tracked:
            item = tracked.rule or tracked.slo
            if item is not None and item not in out:
                out.append(item)
        return out

    def active_alerts(self) -> list[Alert]:
        """Alerts that are pending or firing."""
        return [t.alert for t in self._tracked if t.alert.state in (AlertState.PENDING, AlertState.FIRING)]

    def alerts(self) -> list[Alert]:
        """Every rule's alert, whatever its state."""
        return [t.alert for t in self._tracked]

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate_once(self) -> list[Alert]:
        """Evaluate every rule now and deliver notifications synchronously; returns the active alerts."""
        for notifier, alert in self._evaluate():
            self._deliver(notifier, alert)
        return self.active_alerts()

    async def aevaluate_once(self) -> list[Alert]:
        """Evaluate now; notifications are awaited (blocking ones run in worker threads)."""
        pending = self._evaluate()
        results = await asyncio.gather(*(n.anotify(a) for n, a in pending), return_exceptions=True)
        for (notifier, alert), result in zip(pending, results):
            if isinstance(result, BaseException):
                self._failed(notifier, alert, result)
        return self.active_alerts()

    def _deliver(self, notifier: Notifier, alert: Alert) -> None:
        try:
            notifier.notify(alert)
        except Exception as exc:
            self._failed(notifier, alert, exc)

    def _failed(self, notifier: Notifier, alert: Alert, exc: BaseException) -> None:
        self.collector.counter(
            "rfs_alert_notifications_failed_total",
            "Alert notifications that could not be delivered",
            labels={"notifier": notifier.name},
        ).increment()
        _log.warning("notifier %s could not deliver alert %s: %s", notifier.name, alert.name, exc)

    def _evaluate(self) -> list[tuple[Notifier, Alert]]:
        started = time.perf_counter()
        now = self._clock()
        outbox: list[tuple[Notifier, Alert]] = []
        with self._lock:
            for tracked in self._tracked:
                try:
                    value = self._value(tracked, now)
                except Exception as exc:  # a rule bug must not stop the others
                    _log.warning("alert rule %s could not be evaluated: %s", tracked.alert.name, exc)
                    value = math.nan
                if self._step(tracked, value, now):
                    outbox.extend((n, tracked.alert) for n in [*self._notifiers, *tracked.notifiers])
                firing = 1 if tracked.alert.state is AlertState.FIRING else 0
                self.collector.gauge(
                    "rfs_alerts_firing",
                    "Alerts currently firing (1) or not (0)",
                    labels={"alertname": tracked.alert.name},
                ).set(firing)
            for slo in self._slos.values():
                self.collector.gauge(
                    "rfs_slo_error_budget_remaining", "Share of the SLO error budget left", labels={"slo": slo.name}
                ).set(_finite(self.error_budget_remaining(slo.name, now)))
        self.collector.histogram(
            "rfs_alert_evaluation_seconds", description="Time to evaluate all alert rules", unit="s"
        ).observe(time.perf_counter() - started)
        return outbox

    def _step(self, tracked: _Tracked, value: float, now: float) -> bool:
        """Advance the state machine; True when a notification is due."""
        alert = tracked.alert
        alert.value = value
        holds = tracked.condition.holds(value, tracked.threshold)
        if holds:
            if alert.state in (AlertState.INACTIVE, AlertState.RESOLVED):
                alert.state, alert.pending_since, alert.ended_at = AlertState.PENDING, now, None
            if alert.state is AlertState.PENDING and now - (alert.pending_since or now) >= tracked.for_seconds:
                alert.state, alert.started_at, alert.last_notified = AlertState.FIRING, now, now
                return True
            repeat = tracked.repeat_interval
            if alert.state is AlertState.FIRING and repeat and now - (alert.last_notified or now) >= repeat:
                alert.last_notified = now
                return True
            return False
        if alert.state is AlertState.FIRING:
            alert.state, alert.ended_at, alert.last_notified = AlertState.RESOLVED, now, now
            return True
        if alert.state in (AlertState.PENDING, AlertState.RESOLVED):
            alert.state, alert.pending_since = AlertState.INACTIVE, None
        return False

    # -- signals ------------------------------------------------------------------------------

    def _history(self, key: tuple[Any, ...], dense: float, horizon: float) -> History:
        history = self._histories.get(key)
        if history is None:
            history = self._histories[key] = History(dense, horizon)
        return history

    def _counter_increase(
        self, metric: str, labels: dict[str, str], now: float, windows: Sequence[float], horizon: float
    ) -> list[float]:
        current = self._signals.value(metric, labels)
        history = self._history(_key("value", metric, labels, horizon), min(horizon, _SLO_DENSE), horizon)
        results = [increase(history, now, current, w) for w in windows]
        history.add(now, current)
        return [inc for inc, _ in results]

    def _value(self, tracked: _Tracked, now: float) -> float:
        if tracked.slo is not None:
            assert tracked.burn is not None
            _, long_window, short_window, _, _ = tracked.burn
            long_burn, short_burn = self._burn_rates(tracked.slo, now, (long_window, short_window))
            return min(long_burn, short_burn)
        rule = tracked.rule
        assert rule is not None
        labels = rule.label_filter
        if rule.aggregation is Aggregation.VALUE:
            return self._signals.value(rule.metric, labels)
        if rule.aggregation is Aggregation.RATE:
            current = self._signals.value(rule.metric, labels)
            history = self._history(_key("value", rule.metric, labels, rule.window), rule.window, rule.window)
            inc, span = increase(history, now, current, rule.window)
            history.add(now, current)
            return inc / span if span > 0 else math.nan
        if rule.aggregation is Aggregation.RATIO:
            assert rule.denominator is not None
            [num] = self._counter_increase(rule.metric, labels, now, [rule.window], rule.window)
            [den] = self._counter_increase(rule.denominator, labels, now, [rule.window], rule.window)
            return num / den if den > 0 else math.nan
        summary = self._signals.summary_quantile(rule.metric, labels, rule.quantile)
        if summary is not None:
            return summary
        current_hist = self._signals.histogram(rule.metric, labels)
        if current_hist is None:
            return math.nan
        history = self._history(_key("hist", rule.metric, labels, rule.window), rule.window, rule.window)
        value = windowed_quantile(history, now, current_hist, rule.window, rule.quantile)
        history.add(now, current_hist[1])
        return value

    def _good_total(self, slo: SLO, now: float, windows: Sequence[float]) -> list[tuple[float, float]]:
        labels = dict(slo.labels or {})
        horizon = _slo_horizon(slo)
        if slo.good is not None and slo.total is not None:
            goods = self._counter_increase(slo.good, labels, now, windows, horizon)
            totals = self._counter_increase(slo.total, labels, now, windows, horizon)
            return list(zip(goods, totals))
        assert slo.latency_metric is not None and slo.latency_threshold is not None
        current = self._signals.histogram(slo.latency_metric, labels)
        if current is None:
            return [(math.nan, math.nan)] * len(windows)
        bounds, counts, _, _ = current
        fast = sum(c for b, c in zip(bounds, counts) if b <= slo.latency_threshold)
        cumulative = (float(fast), float(sum(counts)))
        history = self._history(_key("slo", slo.name, labels, horizon), _SLO_DENSE, horizon)
        out = []
        for window in windows:
            past = history.at_or_before(now - window)
            if past is None:
                out.append((math.nan, math.nan))
            else:
                out.append((cumulative[0] - past[1][0], cumulative[1] - past[1][1]))
        history.add(now, cumulative)
        return out

    def _burn_rates(self, slo: SLO, now: float, windows: Sequence[float]) -> list[float]:
        rates = []
        for good, total in self._good_total(slo, now, windows):
            if not total or math.isnan(total):
                rates.append(math.nan)
            else:
                rates.append((1.0 - good / total) / slo.error_budget)
        return rates

    def error_budget_remaining(self, slo_name: str, now: float | None = None) -> float:
        """Share of the SLO's error budget left over its window (1.0 untouched, 0 spent, negative overspent)."""
        slo = self._slos.get(slo_name)
        if slo is None:
            raise KeyError(f"no SLO named {slo_name!r}; known: {sorted(self._slos)}")
        moment = self._clock() if now is None else now
        labels = dict(slo.labels or {})
        horizon = _slo_horizon(slo)
        if slo.good is not None and slo.total is not None:
            good_history = self._histories.get(_key("value", slo.good, labels, horizon))
            total_history = self._histories.get(_key("value", slo.total, labels, horizon))
            if good_history is None or total_history is None:
                return math.nan
            good_past = good_history.at_or_before(moment - slo.window)
            total_past = total_history.at_or_before(moment - slo.window)
            if good_past is None or total_past is None:
                return math.nan
            good = self._signals.value(slo.good, labels) - good_past[1]
            total = self._signals.value(slo.total, labels) - total_past[1]
        else:
            history = self._histories.get(_key("slo", slo.name, labels, horizon))
            current = self._signals.histogram(slo.latency_metric or "", labels)
            past = history.at_or_before(moment - slo.window) if history is not None else None
            if past is None or current is None:
                return math.nan
            bounds, counts, _, _ = current
            fast = sum(c for b, c in zip(bounds, counts) if b <= (slo.latency_threshold or 0))
            good, total = fast - past[1][0], sum(counts) - past[1][1]
        if total <= 0:
            return 1.0
        remaining: float = 1.0 - (1.0 - good / total) / slo.error_budget
        return remaining

    # -- background loops ---------------------------------------------------------------------

    def start(self) -> None:
        """Evaluate every ``interval`` seconds in a daemon thread until ``stop()``."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run_thread, name="rfs-otel-alerts", daemon=True)
        self._thread.start()

    def _run_thread(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.evaluate_once()
            except Exception:  # never let the loop die
                _log.exception("alert evaluation failed")

    def start_async(self) -> asyncio.Task[None]:
        """Evaluate every ``interval`` seconds as a task on the running event loop until ``stop()``."""
        if self._task is not None and not self._task.done():
            return self._task
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(self._run_task())
        return self._task

    async def _run_task(self) -> None:
        while not self._stop.is_set():
            await asyncio.sleep(self.interval)
            if self._stop.is_set():
                break
            try:
                await self.aevaluate_once()
            except Exception:
                _log.exception("alert evaluation failed")

    def stop(self) -> None:
        """Stop the background thread or task; idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)
            self._thread = None
        if self._task is not None:
            self._task.cancel()
            self._task = None


AlertEvaluator = AlertManager

#: Every sample is kept this far back (the longest burn-rate window); older ones are thinned.
_SLO_DENSE = max(pair[1] for pair in BURN_RATE_WINDOWS)


def _key(kind: str, metric: str, labels: dict[str, str], horizon: float) -> tuple[Any, ...]:
    return (kind, metric, tuple(sorted(labels.items())), horizon)


def _slo_horizon(slo: SLO) -> float:
    return max(slo.window, _SLO_DENSE)


def _annotations(summary: str, description: str) -> dict[str, str]:
    out = {}
    if summary:
        out["summary"] = summary
    if description:
        out["description"] = description
    return out


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 1.0


_default_manager: list[AlertManager] = []
_default_lock = threading.Lock()


def get_alert_manager() -> AlertManager:
    """The process-wide AlertManager on the default collector (created on first use, not started)."""
    with _default_lock:
        collector = get_metrics_collector()
        if not _default_manager or _default_manager[0].collector is not collector:
            _default_manager[:] = [AlertManager(collector)]
        return _default_manager[0]


def create_alert_rule(
    name: str,
    metric_name: str,
    condition: AlertCondition | str,
    threshold: float,
    callback: Callable[[Alert], Any] | None = None,
    **options: Any,
) -> AlertRule:
    """Create a rule as RFS does and register it on the default AlertManager; ``callback`` is notified."""
    rule = AlertRule(name, metric_name, condition, threshold, callback=callback, **options)
    get_alert_manager().add(rule)
    return rule
