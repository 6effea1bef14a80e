"""The ``rfs-otel`` command line (also ``python -m rfs_otel``): demo, snapshot, lint."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .._util.json import strict_dumps
from .._util.redact import split_credentials
from .._version import __version__

__all__ = ["main"]


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0..65535, got {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rfs-otel", description="rfs_otel: RFS metrics over OpenTelemetry")
    parser.add_argument("--version", action="version", version=f"rfs-otel {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run an instrumented sample service with generated traffic")
    demo.add_argument("--duration", type=_positive, default=None, help="stop after this many seconds")
    demo.add_argument("--rate", type=_positive, default=200.0, help="requests per second to generate")
    demo.add_argument("--port", type=_port, default=9464, help="dashboard and /metrics port (0: any free one)")
    demo.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    demo.add_argument("--file", type=Path, default=None, help="where the file storage writes")

    snapshot = commands.add_parser("snapshot", help="current metrics of a /metrics URL or a stored file")
    snapshot.add_argument("source", help="http(s)://host:port/metrics or a FileMetricsStorage file")
    snapshot.add_argument("--json", action="store_true", help="print JSON instead of a table")

    lint = commands.add_parser("lint", help="naming, unit and cardinality problems of a live /metrics endpoint")
    lint.add_argument("url", help="http(s)://host:port/metrics")
    lint.add_argument("--max-series", type=int, default=100, help="warn above this many series per metric")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the exit code (1 when stdout closes early)."""
    try:
        code = _run(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``rfs-otel snapshot URL | head``): no traceback, and no second error at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1
    return code


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(duration=args.duration, rate=args.rate, port=args.port, host=args.host, file_path=args.file)
    if args.command == "snapshot":
        return _snapshot(args.source, args.json)
    return _lint(args.url, args.max_series)


def _snapshot(source: str, as_json: bool) -> int:
    from .snapshot import fetch, rows_from_exposition, rows_from_file, table

    try:
        if source.startswith(("http://", "https://")):
            rows = rows_from_exposition(fetch(source))
        else:
            path = Path(source)
            if not path.is_file():
                print(f"rfs-otel snapshot: {source!r} is neither an http(s) URL nor a file", file=sys.stderr)
                return 2
            rows = rows_from_file(path)
    except (OSError, ValueError) as exc:
        print(f"rfs-otel snapshot: cannot read {_shown(source)}: {_hidden(source, exc)}", file=sys.stderr)
        return 1
    print(strict_dumps(rows, indent=2) if as_json else table(rows))
    return 0


def _shown(source: str) -> str:
    """``source`` as it may be printed: a URL without its ``user:password@``."""
    return split_credentials(source)[0] if source.startswith(("http://", "https://")) else source


def _hidden(source: str, exc: BaseException) -> str:
    """``exc`` as text with the URL's password (if any) masked."""
    text = str(exc)
    if source.startswith(("http://", "https://")):
        credentials = split_credentials(source)[1]
        if credentials is not None and credentials[1]:
            text = text.replace(credentials[1], "***")
    return text


def _lint(url: str, max_series: int) -> int:
    from .lint import lint_exposition
    from .snapshot import fetch

    try:
        problems = lint_exposition(fetch(url), max_series=max_series)
    except (OSError, ValueError) as exc:
        print(f"rfs-otel lint: cannot read {_shown(url)}: {_hidden(url, exc)}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    errors = sum(p.severity == "error" for p in problems)
    print(f"{len(problems)} problem(s), {errors} error(s)")
    return 1 if errors else 0
