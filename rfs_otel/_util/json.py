"""Strict JSON whatever the recorded values: NaN becomes ``null``, infinities the strings ``"+Inf"``/``"-Inf"``.

Python's ``json`` writes ``NaN``/``Infinity``, which no JSON parser accepts (and refuses them with
``allow_nan=False``); recorded values may legally overflow to infinity (``observe(1e308)`` twice).
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["json_safe", "strict_dumps"]


def _number(value: float) -> float | str | None:
    if math.isfinite(value):
        return value
    return None if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")


def _key(key: Any) -> Any:
    if isinstance(key, float) and not math.isfinite(key):
        return "NaN" if math.isnan(key) else ("+Inf" if key > 0 else "-Inf")
    return key


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (at any depth of dicts, lists and tuples) made JSON-safe."""
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        return {_key(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def strict_dumps(value: Any, indent: int | None = None) -> str:
    """``json.dumps`` that always yields valid JSON: non-finite floats as above, unknown objects as ``str``."""
    return json.dumps(json_safe(value), indent=indent, allow_nan=False, default=str)
