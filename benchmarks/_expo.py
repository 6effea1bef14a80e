"""Exponential-histogram figure: the bound ``observe`` of an OTel base-2 exponential histogram (160 buckets,
starting at scale 20) against prometheus_client's bound ``child.observe`` of an explicit-bucket histogram."""

from __future__ import annotations

import itertools
import random
from typing import Any

from _hot import BUCKETS, _pair
from _timing import Row, Settings
from prometheus_client import CollectorRegistry
from prometheus_client import Histogram as PHistogram

from rfs_otel import MetricsCollector


def expo_rows(settings: Settings) -> list[Row]:
    """Bound exponential observe of one value, and of log-normal values cycling over many buckets."""
    registry = CollectorRegistry()
    collector = MetricsCollector(storage=[])
    rng = random.Random(7)
    values = [rng.lognormvariate(-2.0, 1.0) for _ in range(4096)]
    ns: dict[str, Any] = {
        "observe": collector.histogram("e_seconds", labels={"a": "1"}, aggregation="exponential").observe,
        "p_observe": PHistogram("e_seconds", "d", ["a"], buckets=BUCKETS, registry=registry).labels("1").observe,
        "ours_values": itertools.cycle(values),
        "peer_values": itertools.cycle(values),
    }
    return [
        _pair(
            "bound exponential histogram.observe(v)",
            "observe into a base-2 exponential histogram (max_size 160) of a bound series",
            "child.observe(v): 11 explicit buckets, bound child",
            ("observe(0.3)", "p_observe(0.3)"),
            ns,
            settings,
            0.5,
        ),
        _pair(
            "bound exponential observe, log-normal values",
            "observe(next(values)): values spread over ~90 exponential buckets",
            "child.observe(next(values)): 11 explicit buckets",
            ("observe(next(ours_values))", "p_observe(next(peer_values))"),
            ns,
            settings,
            0.5,
            headline=False,
        ),
    ]
