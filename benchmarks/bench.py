"""rfs_otel benchmarks: like-for-like ratios against prometheus_client and the raw OTel SDK.

``python benchmarks/bench.py [--quick] [--check] [--markdown] [--only SECTION,...]`` (or ``nox -s bench``).
Each ratio is rfs_otel time / peer time (below 1 means rfs_otel is faster): the median of per-round
ratios over interleaved rounds in one process; memory and multiprocess figures use fresh processes.
``--check`` exits 1 listing every missed target; ``--quick`` is a smoke run whose numbers mean nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable

from _expo import expo_rows
from _hot import decorator_rows, instrument_rows, summary_rows
from _middleware import middleware_rows
from _procs import memory_row, multiprocess_row
from _scrape import otlp_row, scrape_rows
from _timing import Row, Settings, render

SECTIONS: dict[str, Callable[[Settings], list[Row]]] = {
    "hot": instrument_rows,
    "decorators": decorator_rows,
    "summary": summary_rows,
    "scrape": scrape_rows,
    "otlp": lambda s: [otlp_row(s)],
    "multiprocess": lambda s: [multiprocess_row(s)],
    "memory": lambda s: [memory_row(s)],
    "middleware": middleware_rows,
    "exponential": expo_rows,
}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smoke run: few short rounds, small sizes")
    parser.add_argument("--check", action="store_true", help="exit 1 when any figure misses its target")
    parser.add_argument("--markdown", action="store_true", help="print the result table as markdown")
    parser.add_argument("--only", default="", help=f"comma-separated sections of: {', '.join(SECTIONS)}")
    args, _ = parser.parse_known_args(argv)  # nox forwards the same arguments to scale.py too
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    settings = Settings.make(args.quick)
    chosen = [s for s in args.only.split(",") if s] or list(SECTIONS)
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown section(s) {sorted(unknown)}; expected some of {list(SECTIONS)}")
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"{settings.rounds} interleaved rounds, each run >= {settings.min_seconds * 1e3:g} ms"
        + (" (QUICK smoke run: figures are not meaningful)" if settings.quick else "")
    )
    rows: list[Row] = []
    for name in chosen:
        start = time.monotonic()
        print(f"running {name} ...", flush=True)
        rows += SECTIONS[name](settings)
        print(f"  {name} took {time.monotonic() - start:.0f} s", flush=True)
    print()
    print("ratio = rfs_otel / peer, median of paired per-round ratios (lower is better); times are medians per call")
    print(render(rows, args.markdown))
    missed = [row for row in rows if row.missed]
    if args.check and missed:
        print(f"\n--check: {len(missed)} figure(s) missed their target:")
        for row in missed:
            print(f"  - {row.name}" + ("" if row.like_for_like else " (outputs differ: not like-for-like)"))
        return 1
    if args.check:
        print("\n--check: every figure met its target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
