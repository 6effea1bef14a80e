"""Result, Success and Failure as the RFS framework uses them."""

from __future__ import annotations

import pytest

from rfs_otel import Failure, Result, Success, UnwrapError


def test_success_holds_its_value() -> None:
    """is_success, unwrap and unwrap_or on a Success."""
    r: Result[int, str] = Success(3)
    assert r.is_success() and not r.is_failure()
    assert r.unwrap() == 3
    assert r.unwrap_or(0) == 3


def test_failure_holds_its_error() -> None:
    """is_failure, unwrap_err, its alias unwrap_error and unwrap_or on a Failure."""
    r: Result[int, str] = Failure("boom")
    assert r.is_failure() and not r.is_success()
    assert r.unwrap_err() == "boom"
    assert r.unwrap_error() == "boom"
    assert r.unwrap_or(7) == 7


def test_unwrap_on_failure_raises_with_the_error() -> None:
    """unwrap() on a Failure raises UnwrapError mentioning the error."""
    with pytest.raises(UnwrapError, match="push refused"):
        Failure("push refused").unwrap()


def test_unwrap_err_on_success_raises() -> None:
    """unwrap_err() on a Success raises."""
    with pytest.raises(UnwrapError, match=r"Success\(1\)"):
        Success(1).unwrap_err()


def test_map_and_map_error_transform_one_side() -> None:
    """map touches only Success, map_error only Failure."""
    assert Success(2).map(lambda v: v * 10) == Success(20)
    assert Failure("e").map(lambda v: v * 10) == Failure("e")
    assert Failure("e").map_error(str.upper) == Failure("E")
    assert Success(2).map_error(str.upper) == Success(2)


def test_bind_chains_results() -> None:
    """bind feeds a Success's value to the next step and short-circuits on Failure."""

    def half(v: int) -> Result[int, str]:
        return Success(v // 2) if v % 2 == 0 else Failure(f"{v} is odd")

    assert Success(8).bind(half).bind(half) == Success(2)
    assert Success(6).bind(half).bind(half) == Failure("3 is odd")
    assert Failure("early").bind(half) == Failure("early")


def test_equality_and_repr() -> None:
    """Success and Failure compare by content and kind, and repr shows both."""
    assert Success(1) == Success(1)
    assert Success(1) != Failure(1)
    assert repr(Success("ok")) == "Success('ok')"
    assert repr(Failure("no")) == "Failure('no')"
    assert len({Success(1), Success(1), Failure(1)}) == 2


def test_pattern_matching() -> None:
    """Success and Failure support structural pattern matching."""
    match Failure("bad"):
        case Success(value):
            outcome = f"ok {value}"
        case Failure(error):
            outcome = f"failed {error}"
    assert outcome == "failed bad"
