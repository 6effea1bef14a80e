"""Tick counts: how many times ``increment()`` was called with no argument, one ``itertools.count`` a counter.

``next(count)`` is a single C call holding the GIL throughout, so threads never lose a tick and the hot path needs
no thread-local lookup (the costliest step of ``local.cells[slot] += 1``). A count is read from its repr
(``count(N)``), many at once from the repr of a list of them: one C call too.
"""

from __future__ import annotations

import sys
from itertools import count
from typing import Any

__all__ = ["TICKING", "new_ticks", "read_tick", "read_ticks"]


def _reads_back() -> bool:
    """Whether counts read back through their repr as expected on this Python (checked once, at import)."""
    big = count(2**70)
    return repr([count(7), big]) == f"[count(7), count({2**70})]" and repr(count()) == "count(0)"


#: False where a count's repr is not ``count(N)``: counters then record every increment in their cells.
TICKING = _reads_back()


def new_ticks() -> count[int] | None:
    """A new tick count for a counter slot (None where counts cannot be read back)."""
    return count() if TICKING else None


#: How a count at exactly ``sys.maxsize`` writes its value (CPython, between its machine-word and big-int modes).
_AT_MAXSIZE = "<NULL>"


def read_tick(ticks: Any) -> int:
    """The ticks one count holds."""
    text = repr(ticks)[6:-1]
    return sys.maxsize if text == _AT_MAXSIZE else int(text)


def read_ticks(ticks: list[Any]) -> list[int]:
    """The ticks of many counts, read from one repr (``[count(3), count(0)]``)."""
    if not ticks:
        return []
    text = repr(ticks)[7:-2]
    try:
        return list(map(int, text.split("), count(")))
    except ValueError:  # a count at exactly sys.maxsize (rare: checked only on failure)
        return list(map(int, text.replace(_AT_MAXSIZE, str(sys.maxsize)).split("), count(")))
