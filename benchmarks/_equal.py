"""Equal-output checks for scrape comparisons, and the extra labels a peer needs to write the same output.

Both expositions are parsed with prometheus_client's parser; families, types, help text, sample names,
label sets and values (as floats) must match before a ratio counts as like for like.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

Sample = tuple[str, tuple[tuple[str, str], ...], float]


def normalise(text: bytes | str) -> dict[tuple[str, str, str], frozenset[Sample]]:
    """``{(family, type, help): {(sample name, sorted labels, value), ...}}`` of a text exposition."""
    if isinstance(text, bytes):
        text = text.decode()
    out: dict[tuple[str, str, str], frozenset[Sample]] = {}
    for family in text_string_to_metric_families(text):
        samples = frozenset((s.name, tuple(sorted(s.labels.items())), float(s.value)) for s in family.samples)
        out[(family.name, family.type, family.documentation)] = samples
    return out


def differences(ours: bytes | str, peer: bytes | str, limit: int = 4) -> list[str]:
    """Human-readable differences between two expositions (empty when they are equal)."""
    a, b = normalise(ours), normalise(peer)
    problems: list[str] = []
    for key in sorted(a.keys() - b.keys()):
        problems.append(f"family only in rfs_otel: {key}")
    for key in sorted(b.keys() - a.keys()):
        problems.append(f"family only in peer: {key}")
    for key in sorted(a.keys() & b.keys()):
        only_a, only_b = a[key] - b[key], b[key] - a[key]
        if only_a or only_b:
            problems.append(
                f"{key[0]}: {len(only_a)} samples only in rfs_otel (e.g. {next(iter(only_a), None)}), "
                f"{len(only_b)} only in peer (e.g. {next(iter(only_b), None)})"
            )
    return problems[:limit]


def defaults_of(exposition: bytes) -> tuple[dict[str, str], dict[str, str] | None]:
    """The scope labels rfs_otel adds to every series, and the ``target_info`` labels (None if absent)."""
    scope: dict[str, str] = {}
    target: dict[str, str] | None = None
    for family in text_string_to_metric_families(exposition.decode()):
        for sample in family.samples:
            if family.name == "target_info":
                target = dict(sample.labels)
            elif not scope:
                scope = {k: v for k, v in sample.labels.items() if k.startswith("otel_scope_")}
    return scope, target


class TargetInfo:
    """A collector writing the same ``target_info`` gauge rfs_otel writes (the peer's equivalent of a resource)."""

    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels

    def collect(self) -> Iterable[Any]:
        family = GaugeMetricFamily("target_info", "Target metadata", labels=list(self.labels))
        family.add_metric(list(self.labels.values()), 1.0)
        yield family


def verdict(name: str, ours: bytes, peer: bytes) -> tuple[bool, str]:
    """(like for like?, note), printing the differences loudly when there are any."""
    problems = differences(ours, peer)
    if not problems:
        return True, "output checked equal"
    print(f"!!! {name}: outputs differ, the ratio is NOT like-for-like:")
    for problem in problems:
        print(f"!!!   {problem}")
    return False, "outputs differ: " + problems[0][:120]
