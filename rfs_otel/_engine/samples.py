"""Reading one sample by its Prometheus name from ``Metric`` records, creating nothing (``get_sample_value``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .._errors import InvalidLabelError, InvalidMetricNameError
from .._model.names import family_name
from .._model.quantile import quantile_key
from .._model.records import Metric, MetricType
from .._model.validation import prometheus_label

__all__ = ["sample_value"]

_SUFFIXES = ("_total", "_count", "_sum", "_bucket", "")


def _bound(text: str) -> float | None:
    try:
        return math.inf if text in ("+Inf", "inf") else float(text)
    except ValueError:
        return None


def _pick(record: Metric, suffix: str, extra: Mapping[str, str]) -> float | None:
    """The sample ``suffix`` (``_count``, ``_bucket{le}``, ``{quantile}`` ...) of one record's value."""
    value: Any = record.value
    kind = record.metric_type
    if kind in (MetricType.COUNTER, MetricType.GAUGE):
        return float(value) if not extra and suffix in ("", "_total") else None
    if suffix in ("_count", "_sum") and not extra:
        return float(value.get(suffix, value[suffix[1:]]))  # a summary's every observation, not its window
    if kind is MetricType.HISTOGRAM and suffix == "_bucket" and set(extra) == {"le"}:
        bound = _bound(extra["le"])
        found = None if bound is None else value["buckets"].get(bound)
        return None if found is None else float(found)  # a float, as prometheus_client's get_sample_value
    if kind is MetricType.SUMMARY and suffix == "" and set(extra) == {"quantile"}:
        q = _bound(extra["quantile"])
        stat = None if q is None or not 0 <= q <= 1 else value.get(quantile_key(q))
        return None if stat is None else float(stat)
    return None


def sample_value(
    records: Iterable[Metric],
    name: str,
    labels: Mapping[str, object] | None = None,
    legacy: frozenset[str] = frozenset(),
) -> float | None:
    """The value of sample ``name{labels}`` as Prometheus would expose it, or None when there is no such sample.

    Summaries named in ``legacy`` (``export="histogram_and_gauges"``) expose no ``{quantile}`` samples but a
    ``<name>_pNN`` gauge per quantile; their ``_bucket`` samples are not in the records (None).

    ``name`` is the metric's name (``requests_total``) or its exposed name (with the unit suffix: ``lat_seconds``
    for ``unit="s"``), or a sample of either: ``<histogram>_count``, ``_sum``, ``_bucket`` (with an ``le``
    label), ``<summary>_count``/``_sum`` or ``<summary>`` with a ``quantile`` label. Label names may be given as
    recorded (``http.route``) or as exposed (``http_route``).
    """
    if not isinstance(name, str):
        raise InvalidMetricNameError(f"get_sample_value: name must be a str such as 'requests_total', got {name!r}")
    if labels is not None and not isinstance(labels, Mapping):
        raise InvalidLabelError(f"get_sample_value({name!r}): labels must be a dict of str to str, got {labels!r}")
    wanted = {str(k): str(v) for k, v in (labels or {}).items()}
    for record in records:
        if record.name in legacy and record.metric_type is MetricType.SUMMARY:
            if "quantile" in wanted:
                continue
            found = _gauge(record, name, wanted)
            if found is not None:
                return found
        exposed = family_name(record.name, record.unit, record.metric_type is MetricType.COUNTER)
        for base in dict.fromkeys((record.name, exposed)):
            for suffix in _SUFFIXES:
                if name != base + suffix or (suffix == "_total" and base.endswith("_total")):
                    continue
                found = _match(record, suffix, wanted)
                if found is not None:
                    return found
    return None


def _match(record: Metric, suffix: str, wanted: dict[str, str]) -> float | None:
    """The sample ``suffix`` of ``record`` when ``wanted`` are its labels (as recorded or as exposed), else None."""
    for own in (record.labels, {prometheus_label(k): v for k, v in record.labels.items()}):
        special = {k: v for k, v in wanted.items() if k in ("le", "quantile") and k not in own}
        if {k: v for k, v in wanted.items() if k not in special} == own:
            return _pick(record, suffix, special)
    return None


def _gauge(record: Metric, name: str, wanted: dict[str, str]) -> float | None:
    """A legacy summary's ``<name>_pNN`` gauge (with or without its unit suffix) when ``name`` is one, else None."""
    value: Any = record.value
    for key in (k for k in value if k.startswith("p") and k != "p"):
        gauge = f"{record.name}_{key.replace('.', '_')}"  # as points.quantile_metrics names it
        if name in (gauge, family_name(gauge, record.unit, False)) and _match_labels(record, wanted):
            return float(value[key])
    return None


def _match_labels(record: Metric, wanted: dict[str, str]) -> bool:
    """Whether ``wanted`` are ``record``'s labels, as recorded or as exposed."""
    return wanted in (record.labels, {prometheus_label(k): v for k, v in record.labels.items()})
