"""The worst single ``summary.observe``: what one call costs at its slowest, told apart from the machine's noise.

A call's own work (a batch seal, a dropped batch counted) recurs at the same call index in every repeat of the
same sequence; an interrupt, a host preemption or a page-cache hiccup does not. So the figure is, per call index,
the least of its times over ``REPEATS`` fresh runs, and then the worst of those. The raw worst of every timed
call, and the worst of a reference call timed in the same loop (a plain Python function appending to a list:
the machine's floor for "one call"), are reported beside it.
"""

from __future__ import annotations

import gc
import random
import resource
import time
from typing import Any

from _timing import Row, Settings

from rfs_otel import MetricsCollector

#: Fresh runs of the same call sequence; a call's figure is its least time over them.
REPEATS = 3


def _reference(value: float, sink: list[float] = []) -> None:  # noqa: B006 - the shared list is the point
    """A plain Python call doing what observe's common path does (append, check a length): the floor."""
    sink.append(value)
    if len(sink) >= 128:
        sink.clear()


def _switches() -> int:
    """Context switches of the calling thread so far (0 where the OS does not report them per thread)."""
    if not hasattr(resource, "RUSAGE_THREAD"):
        return 0
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_nvcsw + usage.ru_nivcsw


def _run(calls: int, values: list[float], name: str) -> tuple[list[int], list[int], int]:
    """One fresh summary at a 100k window: each observe's time, each reference call's time, switched calls."""
    perf = time.perf_counter_ns
    took: list[int] = []
    floor: list[int] = []
    switched = 0
    with MetricsCollector() as collector:
        observe = collector.summary(name, max_samples=100_000).observe
        reference = _reference
        gc.disable()
        try:
            for i in range(calls):
                value = values[i & 4095]
                before = _switches()
                start = perf()
                observe(value)
                middle = perf()
                reference(value)
                took.append(middle - start)
                floor.append(perf() - middle)
                if _switches() != before:
                    switched += 1
        finally:
            gc.enable()
    return took, floor, switched


def worst_observe_row(settings: Settings) -> Row:
    """Worst single observe into a full 100k window, over 1M calls (per call, the least of REPEATS runs)."""
    calls = 100_000 if settings.quick else 1_000_000
    rng = random.Random(7)
    values = [rng.lognormvariate(-2.0, 1.2) for _ in range(4096)]
    runs = [_run(calls, values, f"worst_{r}_seconds") for r in range(REPEATS)]
    least = list(map(min, *(took for took, _, _ in runs)))
    worst_at = max(range(calls), key=least.__getitem__)
    raw_worst = max(max(took) for took, _, _ in runs)
    floor_worst = max(max(floor) for _, floor, _ in runs)
    ordered = sorted(runs[0][0])
    note: dict[str, Any] = {
        "median": ordered[len(ordered) // 2],
        "p99.9": ordered[int(len(ordered) * 0.999)],
        "first": least[0],
    }
    return Row(
        f"worst single summary.observe (max_samples 100k, worst of {calls:,})",
        "one observe into a full 100k window; per call the least of 3 fresh runs",
        "absolute",
        float(least[worst_at]),
        None,
        None,
        50_000,
        absolute=True,
        note=f"call #{worst_at:,}; median {_us(note['median'])}, p99.9 {_us(note['p99.9'])}, first call "
        f"{_us(note['first'])}; raw worst of all {REPEATS * calls:,} timed calls {_us(raw_worst)}, while a plain "
        f"append call timed in the same loop peaked at {_us(floor_worst)} (the machine's noise); gc off; "
        f"{sum(s for _, _, s in runs)} calls switched out",
    )


def _us(ns: float) -> str:
    return f"{ns / 1000:.1f} us"
