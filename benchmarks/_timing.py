"""Paired, interleaved timing and the result table shared by every benchmark module.

Each figure is the median of per-round ratios: one round runs every variant once (A B, then B A, ...), each
run long enough (>= ``min_seconds``) to swamp timer resolution, with gc disabled during a run.
"""

from __future__ import annotations

import gc
import itertools
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Settings:
    """How long and how often to measure; ``--quick`` shrinks everything for a smoke run."""

    quick: bool
    rounds: int
    min_seconds: float

    @classmethod
    def make(cls, quick: bool) -> Settings:
        return cls(quick, rounds=3, min_seconds=0.002) if quick else cls(quick, rounds=9, min_seconds=0.02)


@dataclass
class Row:
    """One figure: rfs_otel against a peer (or an absolute limit when ``peer_ns`` is None)."""

    name: str
    ours: str
    peer: str
    ours_ns: float | None
    peer_ns: float | None
    ratio: float | None
    target: float | None
    absolute: bool = False
    like_for_like: bool = True
    note: str = ""
    headline: bool = True
    skipped: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def missed(self) -> bool:
        """True when a target exists and the figure is above it (or could not be compared honestly)."""
        if self.target is None or self.skipped:
            return False
        value = self.ours_ns if self.absolute else self.ratio
        return value is None or value > self.target or not self.like_for_like


def compile_stmt(stmt: str, namespace: Mapping[str, Any]) -> Callable[[int], int]:
    """A function running ``stmt`` n times in a bare loop (like timeit) and returning the elapsed ns."""
    source = (
        f"def _run(_n):\n    _t0 = _perf()\n    for _ in _repeat(None, _n):\n        {stmt}\n    return _perf() - _t0\n"
    )
    scope: dict[str, Any] = {**namespace, "_perf": time.perf_counter_ns, "_repeat": itertools.repeat}
    exec(compile(source, f"<bench {stmt!r}>", "exec"), scope)
    run: Callable[[int], int] = scope["_run"]
    return run


def _timed(run: Callable[[int], int], n: int) -> int:
    enabled = gc.isenabled()
    gc.disable()
    try:
        return run(n)
    finally:
        if enabled:
            gc.enable()


def calibrate(run: Callable[[int], int], min_seconds: float) -> int:
    """The smallest power-of-two-ish loop count whose run takes at least ``min_seconds`` (after a warm-up)."""
    n = 1
    while True:
        took = _timed(run, n)
        if took >= min_seconds * 1e9 or n >= 1 << 26:
            return n
        n = max(n * 2, int(n * min_seconds * 1.2e9 / max(took, 1)))


def rounds(variants: Mapping[str, str], namespace: Mapping[str, Any], settings: Settings) -> dict[str, list[float]]:
    """Per-call ns of every variant in each interleaved round: ``{variant: [round0, round1, ...]}``."""
    runs = {name: compile_stmt(stmt, namespace) for name, stmt in variants.items()}
    counts = {name: calibrate(run, settings.min_seconds) for name, run in runs.items()}
    for name, run in runs.items():  # warm-up at full length
        _timed(run, counts[name])
    out: dict[str, list[float]] = {name: [] for name in runs}
    for index in range(settings.rounds):
        for name in _order(list(runs), index):
            out[name].append(_timed(runs[name], counts[name]) / counts[name])
    return out


def _order(names: list[str], index: int) -> list[str]:
    """A, B in even rounds and B, A in odd ones, so neither side always runs first."""
    return names if index % 2 == 0 else names[::-1]


def rounds_of_calls(variants: Mapping[str, Callable[[], Any]], settings: Settings) -> dict[str, list[float]]:
    """Interleaved rounds of single slow calls (scrapes, exports): one call per variant per round, in ns."""
    out: dict[str, list[float]] = {name: [] for name in variants}
    for func in variants.values():
        func()  # warm-up
    for index in range(settings.rounds):
        for name in _order(list(variants), index):
            func = variants[name]
            enabled = gc.isenabled()
            gc.disable()
            try:
                start = time.perf_counter_ns()
                func()
                out[name].append(time.perf_counter_ns() - start)
            finally:
                if enabled:
                    gc.enable()
    return out


def paired(
    times: Mapping[str, list[float]], ours: str = "ours", peer: str = "peer", base: str | None = None
) -> tuple[float, float, float]:
    """Median of per-round ratios, then median per-call ns of each side (minus ``base`` when given)."""
    zero = [0.0] * len(times[ours])
    baseline = times[base] if base is not None else zero
    a = [x - b for x, b in zip(times[ours], baseline)]
    p = [x - b for x, b in zip(times[peer], baseline)]
    ratios = [x / y if y > 0 else float("inf") for x, y in zip(a, p)]
    return statistics.median(ratios), statistics.median(a), statistics.median(p)


def count(n: int) -> str:
    """10000 -> '10k', 250 -> '250' (for row names)."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else f"{n:,}"


def fmt_ns(value: float | None) -> str:
    """ns, us, ms or s with three significant figures."""
    if value is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} ns"


def _cells(row: Row) -> list[str]:
    if row.skipped:
        figure = "SKIPPED"
    elif row.absolute:
        figure = fmt_ns(row.ours_ns)
    else:
        figure = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
    if not row.like_for_like:
        figure += " (NOT like-for-like)"
    if row.target is None:
        target, status = "report", ""
    else:
        target = f"<= {fmt_ns(row.target)}" if row.absolute else f"<= {row.target:g}x"
        status = "skipped" if row.skipped else "MISSED" if row.missed else "ok"
    peer_time = row.extra.get("peer_text", "" if row.absolute else fmt_ns(row.peer_ns))
    ours_time = row.extra.get("ours_text", fmt_ns(row.ours_ns))
    return [row.name, figure, target, status, ours_time, peer_time, row.ours, row.peer, row.note]


HEADERS = ["figure", "result", "target", "status", "rfs_otel", "peer", "rfs_otel does per call", "peer does", "note"]


def render(rows: list[Row], markdown: bool) -> str:
    """The table as aligned text, or as a GitHub markdown table ready to paste."""
    table = [_cells(row) for row in rows]
    if markdown:
        lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in table]
        return "\n".join(lines)
    short = HEADERS[:6]
    widths = [max(len(h), *(len(c[i]) for c in table)) for i, h in enumerate(short)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(short, widths))]
    for cells in table:
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells[:6], widths)))
        lines.append(
            f"    rfs_otel: {cells[6]}\n    peer:     {cells[7]}" + (f"\n    note:     {cells[8]}" if cells[8] else "")
        )
    return "\n".join(lines)
