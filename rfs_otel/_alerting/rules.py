"""Alert rule definitions: threshold rules over values, rates, quantiles and ratios, and SLOs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .._errors import InvalidValueError
from .._model.validation import check_labels, check_name, check_quantile

__all__ = ["BURN_RATE_WINDOWS", "Aggregation", "AlertCondition", "AlertRule", "BurnWindow", "SLO"]


class AlertCondition(str, Enum):
    """How the evaluated value is compared to the threshold (RFS-compatible values)."""

    GREATER_THAN = "gt"
    LESS_THAN = "lt"
    EQUAL = "eq"
    NOT_EQUAL = "ne"
    GREATER_EQUAL = "ge"
    LESS_EQUAL = "le"

    @classmethod
    def parse(cls, value: AlertCondition | str) -> AlertCondition:
        """Accept the enum, its value (``"gt"``) or the operator (``">"``, ``">="``, ...)."""
        if isinstance(value, AlertCondition):
            return value
        symbol = _SYMBOLS_TO_VALUES.get(str(value), str(value))
        try:
            return cls(symbol)
        except ValueError:
            allowed = sorted([c.value for c in cls] + list(_SYMBOLS_TO_VALUES))
            raise InvalidValueError(f"unknown alert condition {value!r}; expected one of {allowed}") from None

    @property
    def symbol(self) -> str:
        return _VALUES_TO_SYMBOLS[self.value]

    def holds(self, value: float, threshold: float) -> bool:
        """Whether ``value <op> threshold``; NaN never holds."""
        if math.isnan(value):
            return False
        if self is AlertCondition.GREATER_THAN:
            return value > threshold
        if self is AlertCondition.LESS_THAN:
            return value < threshold
        if self is AlertCondition.EQUAL:
            return value == threshold
        if self is AlertCondition.NOT_EQUAL:
            return value != threshold
        if self is AlertCondition.GREATER_EQUAL:
            return value >= threshold
        return value <= threshold


_SYMBOLS_TO_VALUES = {">": "gt", "<": "lt", "==": "eq", "!=": "ne", ">=": "ge", "<=": "le"}
_VALUES_TO_SYMBOLS = {v: k for k, v in _SYMBOLS_TO_VALUES.items()}


class Aggregation(str, Enum):
    """What a rule evaluates."""

    VALUE = "value"  #: current value of a counter or gauge (per series, or summed as ``by=`` groups them)
    RATE = "rate"  #: a counter's increase per second over ``window``
    QUANTILE = "quantile"  #: a histogram's (over ``window``) or summary's (its own window) ``quantile``
    RATIO = "ratio"  #: increase of ``metric`` / increase of ``denominator`` over ``window`` (error rate)


def _threshold(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise InvalidValueError(f"alert rule {name!r}: threshold must be a number, got {value!r}")
    return float(value)


def _positive(name: str, what: str, value: object, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):  # type: ignore[operator]
        raise InvalidValueError(
            f"alert rule {name!r}: {what} must be a {'non-negative' if allow_zero else 'positive'}"
            f" number of seconds, got {value!r}"
        )
    return float(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class AlertRule:
    """A threshold rule evaluated in-process: ``<aggregation of metric{labels}> <condition> threshold``."""

    name: str
    metric: str
    condition: AlertCondition | str
    threshold: float
    for_seconds: float = 0
    labels: Mapping[str, str] | None = None
    aggregation: Aggregation | str = Aggregation.VALUE
    severity: str = "warning"
    summary: str = ""
    description: str = ""
    window: float = 300
    quantile: float = 0.95
    denominator: str | None = None
    repeat_interval: float | None = None
    callback: Any = field(default=None, compare=False)
    #: How series are grouped: None (default) one alert per series, as a Prometheus rule on a bare selector;
    #: ``()`` one alert on the sum of all matching series; ``("region",)`` one alert per region (``sum by``).
    by: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidValueError(f"alert rule name must be a non-empty str, got {self.name!r}")
        check_name(self.metric, f"alert rule {self.name!r} metric")
        object.__setattr__(self, "condition", AlertCondition.parse(self.condition))
        object.__setattr__(self, "threshold", _threshold(self.name, self.threshold))
        object.__setattr__(self, "for_seconds", _positive(self.name, "for_seconds", self.for_seconds, True))
        object.__setattr__(self, "window", _positive(self.name, "window", self.window))
        object.__setattr__(self, "labels", dict(check_labels(self.metric, self.labels)))
        try:
            object.__setattr__(self, "aggregation", Aggregation(self.aggregation))
        except ValueError:
            allowed = [a.value for a in Aggregation]
            raise InvalidValueError(
                f"alert rule {self.name!r}: aggregation must be one of {allowed}, got {self.aggregation!r}"
            ) from None
        object.__setattr__(self, "quantile", check_quantile(self.metric, self.quantile))
        if self.aggregation is Aggregation.RATIO:
            if self.denominator is None:
                raise InvalidValueError(f"alert rule {self.name!r}: a ratio needs denominator=<counter name>")
            check_name(self.denominator, f"alert rule {self.name!r} denominator")
        if self.repeat_interval is not None:
            _positive(self.name, "repeat_interval", self.repeat_interval)
        if self.by is not None:
            if isinstance(self.by, str) or not all(isinstance(key, str) and key for key in self.by):
                raise InvalidValueError(
                    f"alert rule {self.name!r}: by= must be None or a sequence of label names, got {self.by!r}"
                )
            object.__setattr__(self, "by", tuple(self.by))

    @property
    def label_filter(self) -> dict[str, str]:
        return dict(self.labels or {})


@dataclass(frozen=True)
class BurnWindow:
    """One multi-window burn-rate alert of an SLO: it fires while the error budget burns faster than
    ``burn_rate`` over both ``long_window`` and ``short_window`` (seconds)."""

    name: str
    long_window: float
    short_window: float
    burn_rate: float
    severity: str


#: The SRE workbook's multi-window, multi-burn-rate pairs.
BURN_RATE_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow("fast", long_window=3600.0, short_window=300.0, burn_rate=14.4, severity="critical"),
    BurnWindow("slow", long_window=21600.0, short_window=1800.0, burn_rate=6.0, severity="warning"),
)

#: The longest burn-rate window: signal histories keep every sample this far back, thinning older ones.
LONGEST_BURN_WINDOW = max(window.long_window for window in BURN_RATE_WINDOWS)


@dataclass(frozen=True)
class SLO:
    """A service level objective: good/total counters, or a latency threshold on a histogram.

    It alerts on error-budget burn rate over the SRE workbook's window pairs (1h & 5m at 14.4x,
    6h & 30m at 6x) and reports the error budget remaining over ``window``.
    """

    name: str
    objective: float = 0.999
    window: float = 30 * 86400
    good: str | None = None
    total: str | None = None
    latency_metric: str | None = None
    latency_threshold: float | None = None
    labels: Mapping[str, str] | None = None
    summary: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidValueError(f"SLO name must be a non-empty str, got {self.name!r}")
        if not (isinstance(self.objective, (int, float)) and 0 < self.objective < 1):
            raise InvalidValueError(f"SLO {self.name!r}: objective must be in (0, 1), got {self.objective!r}")
        _positive(self.name, "window", self.window)
        by_counters = self.good is not None and self.total is not None
        by_latency = self.latency_metric is not None and self.latency_threshold is not None
        if by_counters == by_latency:
            raise InvalidValueError(
                f"SLO {self.name!r}: give either good= and total= counters, or latency_metric= and latency_threshold="
            )
        for metric in (self.good, self.total, self.latency_metric):
            if metric is not None:
                check_name(metric, f"SLO {self.name!r} metric")
        object.__setattr__(self, "labels", dict(check_labels(self.name, self.labels)))

    @property
    def error_budget(self) -> float:
        """The allowed share of bad events, ``1 - objective``."""
        return 1.0 - self.objective
