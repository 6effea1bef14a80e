"""``rfs-otel lint``: naming, unit-suffix and cardinality problems of a Prometheus exposition."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .._model.practices import (
    CAMEL_CASE_LABEL,
    UNBOUNDED_LABELS,
    is_camel_case,
    label_value_problem,
    looks_like_id,
    name_problems,
)

__all__ = ["Problem", "lint_exposition"]

_GENERIC = {"requests", "request", "time", "mem", "memory", "count", "total", "latency", "errors", "duration", "size"}
_SIZE_WORDS = ("memory", "size", "bytes", "mem_")
_IGNORED = {"target_info"}


@dataclass(frozen=True)
class Problem:
    """One finding: ``error`` problems make ``rfs-otel lint`` exit non-zero."""

    severity: str
    metric: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.metric}: {self.message}"


def lint_exposition(text: str, max_series: int = 100) -> list[Problem]:
    """Check a Prometheus text exposition against the seed's naming, label and cardinality practices."""
    from .._util.optional import require

    parser = require("prometheus_client.parser", "prometheus")
    problems: list[Problem] = []
    for family in parser.text_string_to_metric_families(text):
        if family.name in _IGNORED:
            continue
        problems.extend(_lint_family(family, max_series))
    return problems


def _lint_family(family: Any, max_series: int) -> Iterable[Problem]:
    name, kind = family.name, family.type
    shown = name + ("_total" if kind == "counter" and not name.endswith("_total") else "")
    words = name.split("_")
    if name in _GENERIC or len(words) < 2:
        yield Problem(
            "error",
            shown,
            "name is too generic: use a namespaced, unit-suffixed name such as "
            "http_requests_total or db_query_duration_seconds",
        )
    if not family.documentation:
        yield Problem("warning", shown, "has no description (HELP text)")
    for problem in name_problems(name, kind):  # the rule set collectors check at creation (and promtool's)
        yield Problem("warning", shown, problem)
    lowered = name.lower()
    if kind == "gauge" and any(w in lowered for w in _SIZE_WORDS) and not lowered.endswith("_bytes"):
        yield Problem("warning", shown, "a size should carry its unit: end the name with _bytes")
    series: set[tuple[tuple[str, str], ...]] = set()
    values: dict[str, set[str]] = defaultdict(set)
    for sample in family.samples:
        labels = {k: v for k, v in sample.labels.items() if k not in ("le", "quantile") and not k.startswith("otel_")}
        series.add(tuple(sorted(labels.items())))
        for key, value in labels.items():
            values[key].add(value)
    for label in sorted(values):
        yield from _label_problems(shown, label, values[label])
    if len(series) > max_series:
        top = max(values, key=lambda k: len(values[k])) if values else "?"
        yield Problem(
            "warning",
            shown,
            f"{len(series)} series (more than {max_series}); "
            f"label {top!r} has the most values ({len(values.get(top, ()))})",
        )


def _label_problems(shown: str, label: str, values: set[str]) -> Iterable[Problem]:
    """A label's naming and cardinality problems, by the rules collectors apply at creation."""
    if is_camel_case(label):
        yield Problem("warning", shown, CAMEL_CASE_LABEL)
    if label.lower() in UNBOUNDED_LABELS:
        yield Problem(
            "error",
            shown,
            f"label {label!r} is unbounded ({len(values)} values so far): "
            "user ids, request ids and timestamps explode cardinality",
        )
    elif len(values) > 10 and all(looks_like_id(v) for v in values):
        yield Problem("error", shown, f"label {label!r} holds ids ({len(values)} distinct values)")
    else:  # one id-like value is what collectors warn about at creation: say so here too
        problem = next(filter(None, (label_value_problem(label, v) for v in sorted(values))), None)
        if problem is not None:
            yield Problem("warning", shown, problem)
