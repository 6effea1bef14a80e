"""``Timer``: elapsed seconds into a histogram, as a context manager or a decorator (sync or async)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from time import perf_counter
from typing import Any, Protocol, TypeVar

__all__ = ["Timer"]

F = TypeVar("F", bound=Callable[..., Any])


class _Observer(Protocol):
    def observe(self, value: float) -> None: ...


class Timer:
    """Times a block or every call of a function; the duration is observed even when it raises."""

    __slots__ = ("_histogram", "_start", "elapsed")

    def __init__(self, histogram: _Observer) -> None:
        self._histogram = histogram
        self._start = 0.0
        self.elapsed: float | None = None

    def __enter__(self) -> Timer:
        self._start = perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.elapsed = perf_counter() - self._start
        self._histogram.observe(self.elapsed)

    def __call__(self, func: F) -> F:
        histogram = self._histogram
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                start = perf_counter()
                try:
                    return await func(*args, **kwargs)
                finally:
                    histogram.observe(perf_counter() - start)

            return timed_async  # type: ignore[return-value]

        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                histogram.observe(perf_counter() - start)

        return timed  # type: ignore[return-value]
