"""pyproject.toml declares the opentelemetry range the tests-sdk nox session runs the suite against."""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli before 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _requirement(name: str) -> Requirement:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = [Requirement(d) for d in project["dependencies"] if Requirement(d).name == name]
    assert len(found) == 1, f"pyproject.toml declares {name} {len(found)} times"
    return found[0]


def test_sdk_range_is_bounded_on_both_sides() -> None:
    """The declared opentelemetry-sdk range has a tested lower bound and an upper bound (no untested release)."""
    operators = {spec.operator for spec in _requirement("opentelemetry-sdk").specifier}
    assert operators == {">=", "<"}


def test_installed_sdk_and_api_are_in_the_declared_range() -> None:
    """The SDK and API this suite runs on are inside the range pyproject.toml declares."""
    for name in ("opentelemetry-sdk", "opentelemetry-api"):
        assert version(name) in _requirement(name).specifier, (name, version(name))


def test_nox_runs_the_suite_at_both_ends_of_the_range() -> None:
    """noxfile.py has the tests-sdk session for the oldest and the newest SDK, reading the range from pyproject."""
    text = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    assert '@nox.session(name="tests-sdk")' in text
    assert '@nox.parametrize("sdk", ["oldest", "newest"])' in text
    assert "_sdk_range()" in text
