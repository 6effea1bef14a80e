"""``Result``: a value or an error, returned where a failure is an expected outcome (exports, pushes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, NoReturn, TypeVar, Union, final

__all__ = ["Failure", "Result", "Success", "UnwrapError"]

T = TypeVar("T")
E = TypeVar("E")
U = TypeVar("U")
F = TypeVar("F")


class UnwrapError(ValueError):
    """``unwrap()`` on a Failure or ``unwrap_err()`` on a Success."""


@final
class Success(Generic[T]):
    """The successful outcome, holding ``value``."""

    __slots__ = ("_value",)
    __match_args__ = ("value",)

    def __init__(self, value: T) -> None:
        self._value = value

    @property
    def value(self) -> T:
        return self._value

    def is_success(self) -> bool:
        return True

    def is_failure(self) -> bool:
        return False

    def unwrap(self) -> T:
        return self._value

    def unwrap_err(self) -> NoReturn:
        raise UnwrapError(f"unwrap_err() called on {self!r}")

    unwrap_error = unwrap_err

    def unwrap_or(self, default: object) -> T:
        return self._value

    def map(self, func: Callable[[T], U]) -> Success[U]:
        return Success(func(self._value))

    def map_error(self, func: Callable[[Any], object]) -> Success[T]:
        return self

    def bind(self, func: Callable[[T], Result[U, F]]) -> Result[U, F]:
        return func(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Success) and self._value == other._value

    def __hash__(self) -> int:
        return hash((Success, self._value))

    def __repr__(self) -> str:
        return f"Success({self._value!r})"


@final
class Failure(Generic[E]):
    """The failed outcome, holding ``error``."""

    __slots__ = ("_error",)
    __match_args__ = ("error",)

    def __init__(self, error: E) -> None:
        self._error = error

    @property
    def error(self) -> E:
        return self._error

    def is_success(self) -> bool:
        return False

    def is_failure(self) -> bool:
        return True

    def unwrap(self) -> NoReturn:
        raise UnwrapError(f"unwrap() called on Failure: {self._error}")

    def unwrap_err(self) -> E:
        return self._error

    unwrap_error = unwrap_err

    def unwrap_or(self, default: U) -> U:
        return default

    def map(self, func: Callable[[Any], object]) -> Failure[E]:
        return self

    def map_error(self, func: Callable[[E], F]) -> Failure[F]:
        return Failure(func(self._error))

    def bind(self, func: Callable[[Any], object]) -> Failure[E]:
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Failure) and self._error == other._error

    def __hash__(self) -> int:
        return hash((Failure, self._error))

    def __repr__(self) -> str:
        return f"Failure({self._error!r})"


Result = Union[Success[T], Failure[E]]  # noqa: UP007 - a subscriptable alias on Python 3.10
