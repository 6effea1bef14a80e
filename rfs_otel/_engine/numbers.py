"""Recorded amounts: what a series accepts (finite real numbers, integers within int64) and how totals export."""

from __future__ import annotations

import math

from .._errors import InvalidValueError
from .._model.validation import to_number

__all__ = ["INT64", "ONE", "checked_number", "exportable"]


def _shown(value: object) -> str:
    """``repr(value)`` for an error message, bounded, and never itself an error (a huge int, a broken __repr__)."""
    try:
        text = repr(value)
    except Exception:  # e.g. an int past sys.get_int_max_str_digits(), or a user type whose __repr__ raises
        bits = value.bit_length() if isinstance(value, int) else None
        return f"<{type(value).__name__} of {bits} bits>" if bits is not None else f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def checked_number(kind: str, name: str, call: str, value: object) -> float | int:
    """Coerce a recorded amount, refusing non-numbers, bool, NaN and infinities (always with InvalidValueError)."""
    try:
        number = to_number(value)
    except Exception:  # TypeError for non-numbers; whatever a number-like type's own conversion raises
        shown = _shown(value)
        raise InvalidValueError(
            f"{kind} {name!r} takes a real number, got {shown} of type {type(value).__name__}: {call}({shown})"
        ) from None
    if isinstance(number, float):
        if not math.isfinite(number):
            raise InvalidValueError(f"{kind} {name!r} takes a finite number: {call}({_shown(value)})")
    elif not -INT64 <= number < INT64:
        raise InvalidValueError(
            f"{kind} {name!r} takes integers within ±2**63 (what OTLP carries exactly): {call}({_shown(value)})"
        )
    return number


#: Integers recorded must stay inside the int64 range OTLP carries; larger totals are exported as floats.
INT64 = 2**63
#: The default increment: ``amount is ONE`` skips the range checks for it (any other 1 takes the full check).
ONE = 1


def exportable(total: float | int) -> float | int:
    """A running total as an OTel value: an int past the int64 range becomes a float."""
    if total.__class__ is int and not -INT64 <= total < INT64:
        return float(total)
    return total
