"""Developer sessions: tests, lint, typecheck, bench, demo."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = True

TEST_DEPS = ["pytest>=8", "hypothesis>=6", "prometheus-client>=0.20", "playwright>=1.40", "gunicorn>=21", "numpy"]


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, with every extra installed."""
    session.install("-e", ".[all]", *TEST_DEPS)
    session.run("pytest", *session.posargs)


CORE_TESTS = [
    "tests/test_instruments.py", "tests/test_collector.py", "tests/test_bad_input.py", "tests/test_threads.py",
    "tests/test_result.py", "tests/test_public_api.py", "tests/test_filters.py", "tests/test_optional_extras.py",
]


@nox.session(name="tests-core")
def tests_core(session: nox.Session) -> None:
    """The core tests with no optional extra installed (only opentelemetry-api and -sdk)."""
    session.install("-e", ".", "pytest>=8", "hypothesis>=6")
    session.run("pytest", *CORE_TESTS, *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "rfs_otel", "tests", "examples", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "rfs_otel")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package and on tests/typing/api.py, written as a user would."""
    session.install("-e", ".[all]", "mypy>=1.10", "prometheus-client>=0.20")
    session.run("mypy", "--strict", "rfs_otel", "tests/typing/api.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Like-for-like ratios (``-- --check`` fails on a missed target, ``-- --markdown`` prints a table to paste).

    Without ``--check`` the load and scale figures of benchmarks/scale.py follow (``-- --soak 60`` adds a soak).
    """
    session.install("-e", ".[all]", "prometheus-client>=0.20")
    session.run("python", "benchmarks/bench.py", *session.posargs)
    if "--check" not in session.posargs:
        session.run("python", "benchmarks/scale.py", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with mkdocs in strict mode (any warning fails)."""
    session.install("-e", ".[all]", "mkdocs-material>=9", "mkdocstrings[python]>=0.25")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def demo(session: nox.Session) -> None:
    """The demo service on embedded defaults (no external services)."""
    session.install("-e", ".[all]")
    session.run("python", "-m", "rfs_otel", "demo", *session.posargs)
