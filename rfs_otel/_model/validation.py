"""Checks run once, when a metric or series is created, so that recording never has to."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from numbers import Real
from typing import Any

from .._errors import InvalidLabelError, InvalidMetricNameError, InvalidValueError

__all__ = [
    "DEFAULT_BUCKETS",
    "DEFAULT_QUANTILES",
    "LabelKey",
    "check_attributes",
    "check_buckets",
    "check_labels",
    "check_name",
    "check_positive",
    "check_quantile",
    "check_quantiles",
    "check_text",
    "is_utf8",
    "prometheus_label",
    "to_number",
]

#: Prometheus' default, seconds-oriented histogram buckets (not the OTel SDK's millisecond ones).
DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
DEFAULT_QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99)
MAX_NAME_LENGTH = 255

#: OpenTelemetry's instrument name syntax: a letter, then letters, digits, ``_ . - /`` (255 characters in all).
_NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9_.\-/]*\Z")
#: Prometheus label names plus ``.``, so OTel attribute keys such as ``http.request.method`` work.
_LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_.]*\Z")
#: What the Prometheus exporter turns into one ``_`` in a label name (``sanitize_attribute``).
_LABEL_SANITIZE_RE = re.compile(r"[^a-zA-Z0-9]+")

#: A series' labels, frozen: ``((key, value), ...)`` sorted by key.
LabelKey = tuple[tuple[str, str], ...]


def is_utf8(text: str) -> bool:
    """True if ``text`` can be encoded as UTF-8 (no lone surrogates such as ``surrogateescape`` leaves behind)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_utf8(text: str) -> str:
    return (
        f"{text!r} cannot be encoded as UTF-8 (it holds a lone surrogate, e.g. from bytes decoded with surrogateescape)"
    )


def check_text(metric: str, kind: str, what: str, text: object) -> str:
    """Return a description or unit if it is a str that every exporter can encode, else raise naming it."""
    if not isinstance(text, str):
        raise TypeError(f"{kind} {metric!r}: {what} must be a str, got {text!r}")
    if not is_utf8(text):
        raise InvalidMetricNameError(f"{kind} {metric!r}: {what} {_not_utf8(text)}")
    return text


def check_attributes(what: str, attributes: Mapping[str, object]) -> None:
    """Refuse attributes (e.g. a Resource's, which become ``target_info`` labels) holding text UTF-8 cannot encode."""
    for key, value in attributes.items():
        texts = value if isinstance(value, (list, tuple)) else (value,)
        for text in (key, *texts):
            if isinstance(text, str) and not is_utf8(text):
                raise InvalidLabelError(f"{what} attribute {key!r}: {_not_utf8(text)}")


def check_name(name: object, kind: str) -> str:
    """Return ``name`` if it is a valid metric name, else raise naming it."""
    if not isinstance(name, str):
        raise InvalidMetricNameError(f"{kind} name must be a str, got {name!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidMetricNameError(
            f"{kind} name {name[:40]!r}... is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed"
        )
    if not _NAME_RE.match(name):
        raise InvalidMetricNameError(
            f"{kind} name {name!r} must match [a-zA-Z][a-zA-Z0-9_.\\-/]* (OpenTelemetry's instrument name syntax: "
            "a letter, then letters, digits, '_', '.', '-' or '/'; no ':', which Prometheus reserves for rules)"
        )
    return name


def prometheus_label(key: str) -> str:
    """A label name as the Prometheus exporter writes it: ``http.request.method`` -> ``http_request_method``."""
    return _LABEL_SANITIZE_RE.sub("_", key)


def _label_value(metric: str, key: str, value: object) -> str:
    if isinstance(value, str):
        text = value
    elif value is None:
        raise InvalidLabelError(f"metric {metric!r}: label {key!r} has value None; label values must be str")
    elif isinstance(value, (bool, int, float, Decimal, Fraction, Real)):
        text = str(value)
    else:
        raise InvalidLabelError(
            f"metric {metric!r}: label {key!r} has value {value!r} of type {type(value).__name__}; "
            "label values must be str (or a number, converted with str())"
        )
    if not is_utf8(text):
        raise InvalidLabelError(f"metric {metric!r}: label {key!r} has value {_not_utf8(text)}")
    return text


def _check_distinct_after_export(metric: str, keys: Iterable[str]) -> None:
    """The exporter turns runs of ``_`` and ``.`` into one ``_``: ``a.b`` and ``a_b`` would become one label."""
    seen: dict[str, str] = {}
    for key in keys:
        exported = prometheus_label(key)
        if exported in seen:
            raise InvalidLabelError(
                f"metric {metric!r}: label names {seen[exported]!r} and {key!r} are both exported to Prometheus "
                f"as {exported!r}; use one of them"
            )
        seen[exported] = key


def check_labels(metric: str, labels: Mapping[str, object] | None, reserved: Iterable[str] = ()) -> LabelKey:
    """Validate label names and values and freeze them into a sorted tuple of pairs."""
    if not labels and (labels is None or isinstance(labels, Mapping)):
        return ()
    if not isinstance(labels, Mapping):
        raise InvalidLabelError(f"metric {metric!r}: labels must be a dict of str to str, got {labels!r}")
    reserved_set = frozenset(reserved)
    pairs = []
    for key, value in labels.items():
        if not isinstance(key, str) or not _LABEL_RE.match(key):
            raise InvalidLabelError(f"metric {metric!r}: label name {key!r} must match [a-zA-Z_][a-zA-Z0-9_.]*")
        if key.startswith("__"):
            raise InvalidLabelError(f"metric {metric!r}: label name {key!r} starts with '__', which is reserved")
        if key in reserved_set or prometheus_label(key) in reserved_set:
            raise InvalidLabelError(f"metric {metric!r}: label name {key!r} is reserved for this metric kind")
        pairs.append((key, _label_value(metric, key, value)))
    pairs.sort()
    if any("__" in key or "." in key for key, _ in pairs):
        _check_distinct_after_export(metric, [key for key, _ in pairs])
    return tuple(pairs)


def to_number(value: object) -> float | int:
    """Coerce a real number (int, float, Decimal, numpy scalar, ...) or raise TypeError; bool is refused."""
    if type(value) is int or type(value) is float:
        return value
    if isinstance(value, bool) or not isinstance(value, (Real, Decimal)):
        raise TypeError(value)
    if isinstance(value, int):
        return int(value)
    try:
        return float(value)
    except (ValueError, OverflowError):  # Decimal('sNaN') and friends
        raise TypeError(value) from None


def check_buckets(metric: str, buckets: Iterable[object] | None) -> tuple[float, ...]:
    """Return finite, strictly increasing bucket bounds (a trailing +Inf is accepted and dropped)."""
    if buckets is None:
        return DEFAULT_BUCKETS
    if isinstance(buckets, (str, bytes)):
        raise InvalidValueError(f"histogram {metric!r}: buckets must be a sequence of numbers, got {buckets!r}")
    try:
        bounds = [float(to_number(b)) for b in buckets]
    except TypeError:
        raise InvalidValueError(
            f"histogram {metric!r}: buckets must be a sequence of numbers, got {list(buckets)!r}"
        ) from None
    if bounds and bounds[-1] == math.inf:
        bounds.pop()
    if not bounds:
        raise InvalidValueError(f"histogram {metric!r}: buckets must hold at least one finite bound, got {buckets!r}")
    for b in bounds:
        if not math.isfinite(b):
            raise InvalidValueError(f"histogram {metric!r}: bucket bound {b!r} is not finite; buckets were {bounds!r}")
    for lo, hi in zip(bounds, bounds[1:]):
        if not lo < hi:
            raise InvalidValueError(
                f"histogram {metric!r}: buckets must be strictly increasing, got {lo!r} then {hi!r} in {bounds!r}"
            )
    return tuple(bounds)


def check_quantile(metric: str, q: object) -> float:
    """Return ``q`` as a float in [0, 1] or raise naming it."""
    try:
        value = float(to_number(q))
    except TypeError:
        raise InvalidValueError(f"metric {metric!r}: quantile must be a number in [0, 1], got {q!r}") from None
    if not 0.0 <= value <= 1.0:
        raise InvalidValueError(f"metric {metric!r}: quantile must be in [0, 1], got {q!r}")
    return value


def check_quantiles(metric: str, quantiles: Iterable[object]) -> tuple[float, ...]:
    """Validate a summary's quantile list: each in [0, 1], no duplicates."""
    if isinstance(quantiles, (str, bytes)) or not isinstance(quantiles, Iterable):
        raise InvalidValueError(
            f"summary {metric!r}: quantiles must be a list of numbers in [0, 1] such as (0.5, 0.99), got {quantiles!r}"
        )
    values = tuple(sorted({check_quantile(metric, q) for q in quantiles}))
    if not values:
        raise InvalidValueError(f"summary {metric!r}: quantiles must not be empty")
    return values


def check_positive(metric: str, what: str, value: Any, integer: bool = False) -> Any:
    """Return ``value`` if it is a positive (finite) number, else raise naming ``what``."""
    try:
        number = to_number(value)
    except TypeError:
        raise InvalidValueError(f"summary {metric!r}: {what} must be a positive number, got {value!r}") from None
    if integer and not isinstance(number, int):
        raise InvalidValueError(f"summary {metric!r}: {what} must be a positive integer, got {value!r}")
    if not (number > 0 and math.isfinite(number)):
        raise InvalidValueError(f"summary {metric!r}: {what} must be a positive number, got {value!r}")
    return number
