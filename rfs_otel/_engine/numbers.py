"""Recorded amounts: what a series accepts (finite real numbers, integers within int64) and how totals export."""

from __future__ import annotations

import math

from .._errors import InvalidValueError
from .._model.validation import to_number

__all__ = ["INT64", "ONE", "checked_number", "exportable"]


def checked_number(kind: str, name: str, call: str, value: object) -> float | int:
    """Coerce a recorded amount, refusing non-numbers, bool, NaN and infinities."""
    try:
        number = to_number(value)
    except TypeError:
        raise InvalidValueError(
            f"{kind} {name!r} takes a real number, got {value!r} of type {type(value).__name__}: {call}({value!r})"
        ) from None
    if isinstance(number, float):
        if not math.isfinite(number):
            raise InvalidValueError(f"{kind} {name!r} takes a finite number: {call}({value!r})")
    elif not -INT64 <= number < INT64:
        raise InvalidValueError(
            f"{kind} {name!r} takes integers within ±2**63 (what OTLP carries exactly): {call}({value!r})"
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
