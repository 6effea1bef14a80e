"""In-process alert evaluation: each rule's and SLO burn window's alert, advanced and notified on change."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .._collector import MetricsCollector
from .._default import get_metrics_collector
from .._util.fork import after_fork_in_child, reinit
from .loops import Periodic
from .model import Alert, AlertState, advance, alert_annotations
from .notifiers import CallbackNotifier, Notifier
from .rule_values import RuleValues
from .rules import BURN_RATE_WINDOWS, SLO, AlertCondition, AlertRule, BurnWindow
from .signals import Signals
from .slo import SloMeter, burn_alert_annotations, burn_alert_labels, burn_alert_name

__all__ = ["Alert", "AlertEvaluator", "AlertManager", "AlertState"]

_log = logging.getLogger("rfs_otel.alerts")


_Group = dict[str, str]


def _single() -> list[_Group]:
    return [{}]


@dataclass
class _Tracked:
    """One rule's alerts (one per series or group) and what drives them: their source and how values are measured."""

    source: AlertRule | SLO
    alert: Alert  #: the template: name, rule labels and annotations
    notifiers: list[Notifier]
    measure: Callable[[float, _Group], float]
    condition: AlertCondition = AlertCondition.GREATER_THAN
    threshold: float = 0.0
    for_seconds: float = 0.0
    repeat_interval: float | None = None
    groups: Callable[[], list[_Group]] = _single
    alerts: dict[tuple[tuple[str, str], ...], Alert] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.alerts[()] = self.alert

    def instance(self, key: tuple[tuple[str, str], ...]) -> Alert:
        """The alert of one series or group, created the first time it is seen."""
        alert = self.alerts.get(key)
        if alert is None:
            template = self.alert
            labels = {**template.labels, **dict(key)}
            alert = self.alerts[key] = Alert(template.name, labels=labels, annotations=dict(template.annotations))
        return alert


def _notifier(target: Notifier | Callable[[Alert], Any]) -> Notifier:
    return target if isinstance(target, Notifier) else CallbackNotifier(target)


class AlertManager(Periodic):
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
        super().__init__()
        self.collector = collector or get_metrics_collector()
        self.interval = float(interval)
        self._clock = clock or time.time
        self._signals = Signals(self.collector)
        self._values = RuleValues(self._signals)
        self._notifiers = [_notifier(n) for n in notifiers]
        self._tracked: list[_Tracked] = []
        self._meters: dict[str, SloMeter] = {}
        self._lock = threading.RLock()
        after_fork_in_child(self, "_after_fork")
        for rule in rules:
            self.add(rule)

    def _after_fork(self) -> None:
        """In a forked child: unlock, in case another parent thread was evaluating at fork time."""
        reinit(self._lock)

    # -- rules --------------------------------------------------------------------------------

    def add(self, rule: AlertRule | SLO, notifiers: Iterable[Notifier | Callable[[Alert], Any]] = ()) -> None:
        """Add a rule or an SLO (an SLO becomes one alert per burn-rate window pair)."""
        extra = [_notifier(n) for n in notifiers]
        with self._lock:
            if isinstance(rule, SLO):
                self._add_slo(rule, extra)
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
                annotations=alert_annotations(rule.summary, rule.description),
            )
            self._tracked.append(
                _Tracked(
                    rule,
                    alert,
                    extra,
                    partial(self._values.value, rule),
                    condition=AlertCondition.parse(rule.condition),
                    threshold=float(rule.threshold),
                    for_seconds=float(rule.for_seconds),
                    repeat_interval=rule.repeat_interval,
                    groups=partial(self._values.groups, rule),
                )
            )

    def _add_slo(self, slo: SLO, notifiers: list[Notifier]) -> None:
        if slo.name in self._meters:
            raise ValueError(f"an SLO named {slo.name!r} is already registered")
        meter = self._meters[slo.name] = SloMeter(slo, self._signals)
        for window in BURN_RATE_WINDOWS:
            alert = Alert(
                burn_alert_name(slo, window),
                labels=burn_alert_labels(slo, window),
                annotations=burn_alert_annotations(slo, window),
            )
            measure = partial(_burn, meter, window)
            self._tracked.append(_Tracked(slo, alert, notifiers, measure, threshold=window.burn_rate))

    def rules(self) -> list[AlertRule | SLO]:
        """The registered rules and SLOs."""
        out: list[AlertRule | SLO] = []
        for tracked in self._tracked:
            if tracked.source not in out:
                out.append(tracked.source)
        return out

    def active_alerts(self) -> list[Alert]:
        """Alerts that are pending or firing, as snapshots (they do not change on later evaluations)."""
        return [a for a in self.alerts() if a.state in (AlertState.PENDING, AlertState.FIRING)]

    def alerts(self) -> list[Alert]:
        """Every rule's alert, whatever its state, as snapshots."""
        with self._lock:
            return [alert.snapshot() for t in self._tracked for alert in t.alerts.values()]

    def error_budget_remaining(self, slo_name: str, now: float | None = None) -> float:
        """Share of the SLO's error budget left over its window (1.0 untouched, 0 spent, negative overspent)."""
        meter = self._meters.get(slo_name)
        if meter is None:
            raise KeyError(f"no SLO named {slo_name!r}; known: {sorted(self._meters)}")
        return meter.budget_remaining(self._clock() if now is None else now)

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate_once(self) -> list[Alert]:
        """Evaluate every rule now and deliver notifications synchronously; returns the active alerts."""
        for notifier, alert in self._evaluate():
            self._deliver(notifier, alert)
        return self.active_alerts()

    async def aevaluate_once(self) -> list[Alert]:
        """Evaluate now; notifications are awaited (blocking ones run in worker threads)."""
        import asyncio  # only here: importing rfs_otel does not import asyncio

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
        """Advance every alert to now; returns the (notifier, alert) notifications due."""
        started = time.perf_counter()
        now = self._clock()
        outbox: list[tuple[Notifier, Alert]] = []
        with self._lock:
            for tracked in self._tracked:
                firing = 0
                for alert in self._advance(tracked, now, outbox):
                    firing += alert.state is AlertState.FIRING
                self.collector.gauge(
                    "rfs_alerts_firing",
                    "Alerts of a rule currently firing (one per firing series or group)",
                    labels={"alertname": tracked.alert.name},
                ).set(firing)
            for name, meter in self._meters.items():
                remaining = meter.budget_remaining(now)
                self.collector.gauge(
                    "rfs_slo_error_budget_remaining", "Share of the SLO error budget left", labels={"slo": name}
                ).set(remaining if math.isfinite(remaining) else 1.0)
        self.collector.histogram(
            "rfs_alert_evaluation_seconds", description="Time to evaluate all alert rules", unit="s"
        ).observe(time.perf_counter() - started)
        return outbox

    def _advance(self, tracked: _Tracked, now: float, outbox: list[tuple[Notifier, Alert]]) -> list[Alert]:
        """Advance each series' (or group's) alert of one rule; a series that is gone reads NaN and resolves."""
        try:
            current = {tuple(sorted(group.items())): group for group in tracked.groups()}
        except Exception as exc:  # a rule bug must not stop the others
            _log.warning("alert rule %s could not be evaluated: %s", tracked.alert.name, exc)
            current = {(): {}}
        for key, alert in list(tracked.alerts.items()):
            if key not in current and alert.state is AlertState.INACTIVE:
                del tracked.alerts[key]  # a series gone and nothing pending: forget it (keeps memory bounded)
        advanced = []
        for key in [*current, *(k for k in tracked.alerts if k not in current)]:
            alert = tracked.instance(key)
            value = math.nan
            if key in current:
                try:
                    value = tracked.measure(now, current[key])
                except Exception as exc:  # a rule bug must not stop the others
                    _log.warning("alert rule %s could not be evaluated: %s", tracked.alert.name, exc)
            alert.value = value
            holds = tracked.condition.holds(value, tracked.threshold)
            if advance(alert, holds, now, tracked.for_seconds, tracked.repeat_interval):
                # each notifier its own snapshot: it must not change when the alert moves on or another
                # notifier edits its copy (a callback adding a label must not reach the webhook's)
                outbox.extend((n, alert.snapshot()) for n in [*self._notifiers, *tracked.notifiers])
            advanced.append(alert)
        return advanced


def _burn(meter: SloMeter, window: BurnWindow, now: float, _group: _Group) -> float:
    """An SLO burn window's value (SLOs have one alert per window, no per-series groups)."""
    return meter.burn_value(window, now)


AlertEvaluator = AlertManager
