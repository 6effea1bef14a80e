"""The seed's naming and label practices as one rule set: collectors check it at creation, ``rfs-otel lint`` on a page.

The naming rules promtool also has (``promtool check metrics``: camelCase names and label names, ``_total`` on
a non-counter, abbreviated or non-base units) match it case for case; the rest (a duration without a unit
suffix, labels that look unbounded) are the seed's own.
"""

from __future__ import annotations

import re

__all__ = [
    "CAMEL_CASE_LABEL",
    "UNBOUNDED_LABELS",
    "is_camel_case",
    "label_name_problem",
    "label_value_problem",
    "looks_like_id",
    "name_problems",
]

#: promlint's camelCase test, for metric and label names alike.
_CAMEL = re.compile(r"[a-z][A-Z]")
#: Abbreviated units promtool refuses as a ``_unit`` word of a metric name.
_ABBREVIATIONS = ("b", "kb", "mb", "gb", "tb", "pb", "s", "ms", "us", "ns", "sec", "m", "h", "d")
_BASE_UNITS = {
    "seconds": "seconds",
    "minutes": "seconds",
    "hours": "seconds",
    "days": "seconds",
    "weeks": "seconds",
    "bytes": "bytes",
    "amperes": "amperes",
    "joules": "joules",
    "kelvin": "kelvin",
    "volts": "volts",
    "meters": "meters",
    "metres": "metres",
    "grams": "grams",
    "celsius": "celsius",
    "fahrenheit": "celsius",
}
_PREFIXES = (
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega", "mebi", "giga",
    "gibi", "tera", "tebi", "peta", "pebi",
)  # fmt: skip
_TIME_WORDS = ("duration", "latency", "elapsed", "time")
#: Label names whose values are unbounded: one series per user, request, session...
UNBOUNDED_LABELS = frozenset(
    {
        "user", "user_id", "userid", "request_id", "requestid", "session", "session_id", "sessionid", "trace_id",
        "span_id", "timestamp", "email", "ip", "ip_address", "uuid", "id", "order_id", "customer_id",
    }
)  # fmt: skip
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\Z", re.IGNORECASE)
_LONG_NUMBER = re.compile(r"\d{6,}\Z")
_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|1\d{9}(\d{3})?(\.\d+)?\Z)")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z")


def _unit_problem(lowered: str) -> str | None:
    for abbreviation in _ABBREVIATIONS:
        if f"_{abbreviation}_" in lowered or lowered.endswith(f"_{abbreviation}"):
            return "metric names should not contain abbreviated units"
    for word in lowered.split("_"):
        base = _BASE_UNITS.get(word)
        if base is None:
            prefix = next((p for p in _PREFIXES if word.startswith(p) and word[len(p) :] in _BASE_UNITS), None)
            base = None if prefix is None else _BASE_UNITS[word[len(prefix) :]]
        if base is not None:
            return None if base == word else f'use base unit "{base}" instead of "{word}"'
    return None


def name_problems(name: str, kind: str) -> list[str]:
    """What breaks the naming conventions in metric ``name`` of ``kind`` (counter, gauge, histogram, summary)."""
    problems = []
    if _CAMEL.search(name):
        problems.append("metric names should be written in 'snake_case' not 'camelCase'")
    lowered = name.lower()
    if kind != "counter" and lowered.endswith("_total"):
        problems.append('non-counter metrics should not have "_total" suffix')
    unit = _unit_problem(lowered)
    if unit is not None:
        problems.append(unit)
    elif kind != "counter" and any(w in lowered.split("_") for w in _TIME_WORDS) and "seconds" not in lowered:
        problems.append("a duration should carry its unit: end the name with _seconds")
    return problems


#: promtool's message for a camelCase label name.
CAMEL_CASE_LABEL = "label names should be written in 'snake_case' not 'camelCase'"


def is_camel_case(text: str) -> bool:
    """Whether a metric or label name is camelCase (a lower-case letter followed by an upper-case one)."""
    return _CAMEL.search(text) is not None


def label_name_problem(key: str) -> str | None:
    """Why label name ``key`` breaks the conventions (camelCase) or looks unbounded, or None."""
    if is_camel_case(key):
        return CAMEL_CASE_LABEL
    if key.lower() in UNBOUNDED_LABELS:
        return f"label {key!r} looks unbounded (one series per user, request or session)"
    return None


def looks_like_id(value: str) -> bool:
    """Whether a label value looks like an id: a UUID, a long number, a timestamp or an e-mail address."""
    return bool(_UUID.match(value) or _LONG_NUMBER.match(value) or _TIMESTAMP.match(value) or _EMAIL.match(value))


def label_value_problem(key: str, value: str) -> str | None:
    """Why label ``key=value`` looks unbounded (its value is id-like), or None."""
    if looks_like_id(value):
        return f"label {key!r} has an id-like value {value!r} (UUID, long number, timestamp or e-mail address)"
    return None
