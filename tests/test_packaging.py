"""Package metadata agrees with what is tested: the Pythons nox runs, the classifiers, the README, package data."""

from __future__ import annotations

import ast
import fnmatch
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli before 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _supported_pythons() -> list[str]:
    """SUPPORTED_PYTHONS from noxfile.py, read without importing nox."""
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "SUPPORTED_PYTHONS" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise AssertionError("noxfile.py defines no SUPPORTED_PYTHONS")


def test_nox_tests_consecutive_minor_versions() -> None:
    """nox's list is a run of consecutive 3.x versions, so no supported version goes untested."""
    versions = _supported_pythons()
    minors = [int(v.removeprefix("3.")) for v in versions]
    assert versions[0] == "3.10"
    assert minors == list(range(minors[0], minors[0] + len(minors))), versions


def test_requires_python_starts_at_the_oldest_tested_version() -> None:
    """requires-python is ``>=`` the oldest version nox tests."""
    assert _pyproject()["project"]["requires-python"] == f">={_supported_pythons()[0]}"


def test_classifiers_list_exactly_the_tested_versions() -> None:
    """The version classifiers are exactly the versions nox tests."""
    prefix = "Programming Language :: Python :: 3."
    classified = [c.removeprefix("Programming Language :: Python :: ") for c in _pyproject()["project"]["classifiers"]]
    versions = [c for c in classified if c.startswith("3.")]
    assert versions == _supported_pythons(), f"classifiers under {prefix!r}: {versions}"


def test_readme_states_the_supported_versions() -> None:
    """The README's supported line names every tested version."""
    versions = _supported_pythons()
    stated = ", ".join(versions[:-1]) + f" and {versions[-1]}"
    assert f"Supported: CPython {stated}" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_lint_and_typecheck_target_the_oldest_version() -> None:
    """ruff and mypy check against the oldest supported Python, so newer syntax cannot slip in."""
    oldest = _supported_pythons()[0]
    tool = _pyproject()["tool"]
    assert tool["ruff"]["target-version"] == "py" + oldest.replace(".", "")
    assert tool["mypy"]["python_version"] == oldest


def test_package_data_declares_every_non_python_file() -> None:
    """Every non-Python file in rfs_otel/ matches a package-data pattern, so the wheel ships it."""
    patterns = _pyproject()["tool"]["setuptools"]["package-data"]["rfs_otel"]
    package = ROOT / "rfs_otel"
    files = [
        p.relative_to(package).as_posix()
        for p in package.rglob("*")
        if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts
    ]
    assert "py.typed" in files
    undeclared = [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]
    assert undeclared == [], f"not in [tool.setuptools.package-data] {patterns}: {undeclared}"
