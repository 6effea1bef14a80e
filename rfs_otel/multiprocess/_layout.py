"""The layout of multiprocess files (one JSON meta line per series) and its validation: nothing read is trusted."""

from __future__ import annotations

import functools
import math
from typing import Any

from .._engine.expo import HEAD, check_exponential
from .._model.records import GAUGE_MODES
from .._model.validation import LabelKey, check_buckets, check_name, check_quantiles
from ._expo import EXPONENTIAL, valid_expo_vector

__all__ = [
    "DOUBLE",
    "GAUGE_MODES",
    "Signature",
    "family_signature",
    "layout",
    "signature",
    "valid_meta",
    "valid_vector",
    "width_of",
]

DOUBLE = 8
_KINDS = ("counter", "gauge", "histogram", "summary", EXPONENTIAL)
Signature = tuple[str, tuple[float, ...]]


def signature(kind: str, bounds: tuple[float, ...]) -> Signature:
    """What must match for two workers' values of a metric to be summed: its kind and bucket bounds."""
    return (kind, bounds if kind in ("histogram", "summary", EXPONENTIAL) else ())


def family_signature(family: Any) -> Signature:
    """A registered family's signature (an exponential histogram's "bounds" are its max_size and max_scale)."""
    if getattr(family, "exponential", None) is not None:
        return (EXPONENTIAL, tuple(family.exponential))
    return signature(family.kind.value, family.bounds)


def describe(sig: Signature) -> str:
    if sig[0] == EXPONENTIAL:
        return f"exponential histogram (max_size={sig[1][0]:g}, max_scale={sig[1][1]:g})"
    return f"{sig[0]} with buckets {list(sig[1])}" if sig[1] else sig[0]


def width_of(kind: str, bounds: tuple[float, ...]) -> int:
    """Doubles per series: a counter's value, or a distribution's buckets, sum, count, min and max."""
    if kind == EXPONENTIAL:
        return HEAD + 2 * int(bounds[0])
    return 1 if kind == "counter" else len(bounds) + 4


def layout(kind: str, name: str, key: LabelKey, family: Any) -> dict[str, Any]:
    """One meta line: what a region of the files holds (kind, metric, labels and the family's layout)."""
    mode = family.multiprocess_mode if hasattr(family, "multiprocess_mode") else family.mode
    return {
        "k": kind,
        "n": name,
        "l": [list(p) for p in key],
        "d": family.description,
        "u": family.unit,
        "b": list(getattr(family, "exponential", None) or family.bounds),  # exponential: [max_size, max_scale]
        "q": list(family.quantiles),
        "a": family.max_age,
        "m": mode,
        **({"s": list(family.scope)} if getattr(family, "scope", None) else {}),  # a collector.meter(...) scope
    }


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def valid_meta(raw: object) -> dict[str, Any] | None:
    """``raw`` normalised (bounds and labels as tuples) if it is a well-formed meta line, else None."""
    if not isinstance(raw, dict):
        return None
    bounds, quantiles, pairs = raw.get("b", []), raw.get("q", []), raw.get("l", [])
    if not isinstance(bounds, list) or not isinstance(quantiles, list) or not isinstance(pairs, list):
        return None
    parts = (raw.get("k"), raw.get("n"), raw.get("d", ""), raw.get("u", ""), raw.get("a", 0.0), raw.get("m", "sum"))
    try:
        family = _family_layout(*parts, tuple(bounds), tuple(quantiles))
    except TypeError:  # unhashable parts: not a layout
        return None
    if family is None or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) and s for s in p) for p in pairs
    ):
        return None
    kind, (bounds, quantiles) = str(parts[0]), family
    region, gauge = raw.get("o"), raw.get("g")
    if kind == "gauge":
        ok = region is None and index(gauge)
    else:
        ok = gauge is None and index(region) and raw.get("w") == width_of(kind, bounds)
    normal = {"l": tuple(tuple(p) for p in pairs), "b": bounds, "q": quantiles, "d": parts[2], "u": parts[3]}
    scope = _scope(raw.get("s"))  # a malformed scope makes the line unusable, as any malformed part does
    return {**raw, **normal, "s": scope} if ok and (scope is not None or raw.get("s") is None) else None


def _scope(raw: object) -> tuple[str, str | None, str | None] | None:
    """A meta line's instrumentation scope ``[name, version, schema_url]``, or None if absent or malformed."""
    if not isinstance(raw, list) or len(raw) != 3 or not isinstance(raw[0], str) or not raw[0]:
        return None
    if not all(part is None or isinstance(part, str) for part in raw[1:]):
        return None
    return (raw[0], raw[1], raw[2])


@functools.lru_cache(maxsize=4096)
def _family_layout(
    kind: object,
    name: object,
    description: object,
    unit: object,
    max_age: object,
    mode: object,
    *lists: tuple[Any, ...],
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """A metric's validated bounds and quantiles, or None if its layout is unusable (cached: shared by its series)."""
    bounds, quantiles = lists
    if kind not in _KINDS or not isinstance(description, str) or not isinstance(unit, str) or mode not in GAUGE_MODES:
        return None
    if not isinstance(max_age, (int, float)) or isinstance(max_age, bool) or not 0 <= max_age < math.inf:
        return None
    try:
        check_name(name, str(kind))
        if kind == EXPONENTIAL:
            size, scale = bounds if len(bounds) == 2 and all(b == int(b) for b in bounds) else (0, 0)
            checked: tuple[float, ...] = tuple(map(float, check_exponential(str(name), int(size), int(scale))))
        else:
            checked = check_buckets(str(name), bounds) if kind in ("histogram", "summary") else ()
        quantiles = check_quantiles(str(name), quantiles) if quantiles else ()
    except (ValueError, TypeError):
        return None
    return (checked, quantiles) if checked == bounds else None


def index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 40


def valid_vector(kind: str, width: int, vector: object) -> bool:
    """A counter value or a distribution (whole non-negative counts, a sum, min and max) of the right width."""
    if not isinstance(vector, list) or len(vector) != width or not all(_number(v) for v in vector):
        return False
    try:
        if any(math.isnan(v) for v in vector):
            return False
    except OverflowError:  # an int too large for a double
        return False
    if kind == "counter":
        return bool(vector[0] >= 0)
    if kind == EXPONENTIAL:
        return valid_expo_vector(width, vector)
    return all(math.isfinite(c) and c >= 0 and c == int(c) for c in vector[: width - 3])


def valid_doubles(kind: str, width: int, vector: list[float]) -> bool:
    """``valid_vector`` for ``width`` values read as doubles (so numbers, of that width), in C-speed steps."""
    if kind == "counter":
        return bool(vector[0] >= 0)  # NaN fails too
    if kind not in ("histogram", "summary"):  # another layout: checked the general way
        return valid_vector(kind, width, vector)
    counts = vector[: width - 3]
    if counts and (min(counts) < 0 or not all(map(float.is_integer, counts))):  # NaN and inf are not integers
        return False
    return not any(map(math.isnan, vector[width - 3 :]))
