"""Developer sessions: tests (every supported Python installed), package, lint, typecheck, docs, bench, demo."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import nox

nox.options.sessions = ["tests", "package", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = True

TEST_DEPS = [
    "pytest>=8",
    "hypothesis>=6",
    "prometheus-client>=0.20",
    "playwright>=1.40",
    "gunicorn>=21",
    "numpy",
    "opentelemetry-distro>=0.66b0",
    "packaging",
]
#: The web frameworks the HTTP middleware and the mounting are tested with.
WEB_DEPS = ["fastapi>=0.100", "starlette>=0.35", "httpx>=0.24", "flask>=2.2", "django>=4.2", "uvicorn>=0.23"]
#: The peers the benchmarks compare with (the suite runs a quick benchmark smoke test too).
BENCH_PEERS = ["prometheus-fastapi-instrumentator>=7", "opentelemetry-instrumentation-asgi>=0.66b0,<0.67"]
TEST_DEPS += WEB_DEPS + BENCH_PEERS

# Keep in step with requires-python, the classifiers in pyproject.toml and the README.
SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
ROOT = Path(__file__).resolve().parent


def _python_version(executable: str) -> str | None:
    """``X.Y`` of a Python executable, or None if it does not run (a pyenv shim of an inactive version fails)."""
    try:
        result = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _candidates(version: str) -> list[str]:
    """Executables that may be Python ``version``: the one running nox, ``pythonX.Y`` on PATH, pyenv's builds."""
    found = [sys.executable] if f"{sys.version_info[0]}.{sys.version_info[1]}" == version else []
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(on_path)
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    builds = glob.glob(os.path.join(pyenv_root, "versions", f"{version}.*", "bin", f"python{version}"))
    return found + sorted(builds, reverse=True)


def _installed_pythons() -> list[str]:
    """Supported versions with a working interpreter here, and the running one; nox finds each by version on PATH.

    nox looks a version up as ``pythonX.Y`` on PATH. A pyenv install puts shims there that fail for a version
    that is not active, so every working interpreter is linked as ``pythonX.Y`` into one directory put first
    on PATH. Listing only what exists keeps ``nox -s tests`` working on a machine with a single Python, also
    under ``CI`` (where nox fails on a missing interpreter) and without nox downloading one.
    """
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    newest = tuple(int(part) for part in SUPPORTED_PYTHONS[-1].split("."))
    newer = sys.version_info[:2] > newest  # a Python newer than the list still runs the suite
    wanted = [*SUPPORTED_PYTHONS, running] if newer else list(SUPPORTED_PYTHONS)
    links = ROOT / ".nox" / "pythons"
    links.mkdir(parents=True, exist_ok=True)
    versions = []
    for version in wanted:
        executable = next((c for c in _candidates(version) if _python_version(c) == version), None)
        if executable is None:
            continue
        link = links / f"python{version}"
        if not link.is_symlink() or os.readlink(link) != executable:
            link.unlink(missing_ok=True)
            link.symlink_to(executable)
        versions.append(version)
    for stale in set(links.iterdir()) - {links / f"python{version}" for version in versions}:
        stale.unlink()
    os.environ["PATH"] = os.pathsep.join([str(links), os.environ.get("PATH", "")])
    return versions


INSTALLED_PYTHONS = _installed_pythons()


@nox.session(python=INSTALLED_PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole test suite, with every extra installed, on every supported Python this machine has."""
    session.install("-e", ".[all]", *TEST_DEPS)
    session.run("pytest", *session.posargs)


#: The OpenTelemetry packages released together with the SDK (same version) and their contrib partners (0.X betas).
SDK_PACKAGES = ("opentelemetry-api", "opentelemetry-sdk", "opentelemetry-exporter-otlp", "opentelemetry-proto")
CONTRIB_PACKAGES = (
    "opentelemetry-exporter-prometheus",
    "opentelemetry-instrumentation",
    "opentelemetry-instrumentation-system-metrics",
    "opentelemetry-distro",
)


def _sdk_range() -> tuple[str, str]:
    """The ``opentelemetry-sdk`` lower bound pyproject.toml declares, and its upper bound (exclusive)."""
    import tomllib

    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    spec = next(d for d in dependencies if d.startswith("opentelemetry-sdk"))
    low = spec.split(">=")[1].split(",")[0]
    high = spec.split(",<")[1]
    return low, high


def _contrib_version(sdk: str) -> str:
    """The contrib release paired with SDK ``1.M.x``: ``0.(M+21)b0`` (e.g. SDK 1.45.0 with contrib 0.66b0)."""
    minor = int(sdk.split(".")[1])
    return f"0.{minor + 21}b0"


@nox.session(name="tests-sdk")
@nox.parametrize("sdk", ["oldest", "newest"])
def tests_sdk(session: nox.Session, sdk: str) -> None:
    """The suite against the oldest supported and the newest available opentelemetry-sdk of the declared range."""
    session.install("-e", ".[all]", *TEST_DEPS)
    low, high = _sdk_range()
    if sdk == "oldest":
        pins = [f"{name}=={low}" for name in SDK_PACKAGES]
        pins += [f"{name}=={_contrib_version(low)}" for name in CONTRIB_PACKAGES]
        session.install(*pins)
    else:
        session.install("-U", *(f"{name}<{high}" for name in SDK_PACKAGES))
    session.run(
        "python", "-c", "import importlib.metadata as m; print('opentelemetry-sdk', m.version('opentelemetry-sdk'))"
    )
    session.run("pytest", *session.posargs)


CORE_TESTS = [
    "tests/test_instruments.py",
    "tests/test_collector.py",
    "tests/test_bad_input.py",
    "tests/test_threads.py",
    "tests/test_result.py",
    "tests/test_public_api.py",
    "tests/test_filters.py",
    "tests/test_optional_extras.py",
]


@nox.session(name="tests-core")
def tests_core(session: nox.Session) -> None:
    """The core tests with no optional extra installed (only opentelemetry-api and -sdk)."""
    session.install("-e", ".", "pytest>=8", "hypothesis>=6")
    session.run("pytest", *CORE_TESTS, *session.posargs)


LINTED = ("rfs_otel", "tests", "examples", "benchmarks", "noxfile.py")  # tests/typing: excluded in pyproject.toml


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check, over the package and everything around it."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", *LINTED)
    session.run("ruff", "format", "--check", *LINTED)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package and on tests/typing/api.py, written as a user would."""
    # The web middleware imports Flask's signals and Django's asgiref helpers when those frameworks are in use.
    session.install("-e", ".[all]", "mypy>=1.10", "prometheus-client>=0.20", "flask>=2.2", "django>=4.2")
    session.run("mypy", "--strict", "rfs_otel", "tests/typing/api.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Like-for-like ratios (``-- --check`` fails on a missed target, ``-- --markdown`` prints a table to paste).

    Without ``--check`` the load and scale figures of benchmarks/scale.py follow (``-- --soak 60`` adds a soak).
    """
    session.install(
        "-e",
        ".[all]",
        "prometheus-client>=0.20",
        *WEB_DEPS,
        *BENCH_PEERS,
    )
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


def _package_data() -> set[str]:
    """Every file of the package that is not Python source: all must ship in the sdist and the wheel."""
    package = ROOT / "rfs_otel"
    return {
        path.relative_to(ROOT).as_posix()
        for path in package.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    }


def _check_distributions(session: nox.Session, dist: Path) -> Path:
    """The sdist and the wheel both hold every package-data file; returns the wheel."""
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    expected = _package_data()
    for name, contents in (("sdist", in_sdist), ("wheel", in_wheel)):
        missing = sorted(expected - contents)
        if missing:
            session.error(f"{name} lacks package data {missing}")
    session.log(f"sdist and wheel both hold {sorted(expected)}")
    return wheel


BUILD_LEFTOVERS = (".git", ".nox", "*.egg-info", "build", "dist", "site", "__pycache__", ".*_cache", ".venv")

INSTALLED_CHECK = """
import pathlib, sysconfig, rfs_otel
module = pathlib.Path(rfs_otel.__file__).resolve()
site = pathlib.Path(sysconfig.get_paths()["purelib"]).resolve()
print("rfs_otel imported from", module)
assert module.is_relative_to(site), f"rfs_otel came from {module}, expected the installed copy under {site}"
"""


@nox.session
def package(session: nox.Session) -> None:
    """Build sdist and wheel (the wheel from the sdist), install the wheel in a fresh venv, run demo and tests there.

    Everything runs in a temporary directory outside the source tree with PYTHONPATH cleared, so only the
    installed package can be imported: a file missing from the package data fails here.
    """
    session.install("build>=1", "virtualenv>=20")  # virtualenv: also where the stdlib venv lacks ensurepip
    work = Path(tempfile.mkdtemp(prefix="rfs-otel-package-"))
    try:
        # A clean copy: an rfs_otel.egg-info left by an editable install lists files setuptools would then ship
        # even if pyproject.toml stopped declaring them.
        source = work / "source"
        shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*BUILD_LEFTOVERS))
        dist = work / "dist"
        session.run("python", "-m", "build", "--outdir", str(dist), str(source))  # sdist, then the wheel from it
        wheel = _check_distributions(session, dist)
        venv = work / "venv"
        session.run("python", "-m", "virtualenv", "-q", str(venv))
        python = str(venv / "bin" / "python")
        env = {"PYTHONPATH": ""}  # an empty PYTHONPATH is ignored, so a developer's PYTHONPATH=$PWD cannot leak in
        session.run(
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"{wheel}[all]",
            "pytest>=8",
            "hypothesis>=6",
            external=True,
            env=env,
        )
        (work / "tests").mkdir()
        for module in ("__init__.py", "conftest.py", "servers.py", "test_instruments.py", "test_dashboard.py"):
            shutil.copy(ROOT / "tests" / module, work / "tests" / module)
        with session.chdir(work):
            session.run(python, "-c", INSTALLED_CHECK, external=True, env=env)
            session.run(str(venv / "bin" / "rfs-otel"), "--version", external=True, env=env)
            session.run(
                python,
                "-m",
                "rfs_otel",
                "demo",
                "--duration",
                "3",
                "--port",
                "0",
                "--file",
                str(work / "demo.jsonl"),
                external=True,
                env=env,
            )
            # test_dashboard serves the page from the package's _web/static files; test_instruments is the core API.
            session.run(
                python,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/test_instruments.py",
                "tests/test_dashboard.py",
                external=True,
                env=env,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
