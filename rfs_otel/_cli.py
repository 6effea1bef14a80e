"""The ``rfs-otel`` command line (also ``python -m rfs_otel``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ._version import __version__

__all__ = ["main"]


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand."""
    parser = argparse.ArgumentParser(prog="rfs-otel", description="rfs_otel: RFS metrics over OpenTelemetry")
    parser.add_argument("--version", action="version", version=f"rfs-otel {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run an instrumented sample service with generated traffic")
    demo.add_argument("--duration", type=_positive, default=None, help="stop after this many seconds")
    demo.add_argument("--rate", type=_positive, default=200.0, help="requests per second to generate")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        return run_demo(duration=args.duration, rate=args.rate)
    parser.error(f"unknown command {args.command!r}")
    return 2
