"""The Prometheus names each family is exposed under, and a registry that refuses two families sharing one.

The rules mirror opentelemetry-exporter-prometheus (``_mapping.py``: name sanitizing that collapses runs of
non-alphanumerics to ``_``, UCUM unit suffixes) and prometheus_client's families (``_total`` dropped then
re-added on counters, ``_bucket``/``_count``/``_sum`` on histograms); a test pins them to the real exporter.
Both the classic text format and OpenMetrics (which Prometheus prefers when scraping) are covered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .._errors import InvalidMetricNameError, MetricConflictError
from .quantile import quantile_key
from .records import MetricType
from .validation import is_utf8

__all__ = ["ExposedNames", "check_quantile_keys", "exposed_names", "family_name", "map_unit", "sanitize_name"]

_SANITIZE_NAME_RE = re.compile(r"[^a-zA-Z0-9:]+")
_UNIT_ANNOTATION = re.compile(r"{.*}")
_UNIT_MAPPINGS = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
_PER_UNIT_MAPPINGS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}

#: Names the OTel Prometheus exporter uses itself: its resource metric (``target`` family, ``target_info`` sample).
_EXPORTER_NAMES = ("target", "target_info")
_EXPORTER_OWNER = "the Prometheus exporter's resource metric target_info"


def sanitize_name(name: str) -> str:
    """A metric name as the exporter writes it: a leading digit and runs of other characters become ``_``."""
    if name and name[0].isdigit():
        name = "_" + name[1:]
    return _SANITIZE_NAME_RE.sub("_", name)


def map_unit(unit: str) -> str:
    """The name suffix the exporter derives from a UCUM unit: ``s`` -> ``seconds``, ``m/s`` -> ``meters_per_second``."""
    unit = _UNIT_ANNOTATION.sub("", unit)
    if unit in _UNIT_MAPPINGS:
        return _UNIT_MAPPINGS[unit]
    top, sep, bottom = unit.partition("/")
    if sep:
        bottom = _SANITIZE_NAME_RE.sub("_", bottom)
        if bottom:
            top = _SANITIZE_NAME_RE.sub("_", top)
            top = _UNIT_MAPPINGS.get(top, top)
            bottom = _PER_UNIT_MAPPINGS.get(bottom, bottom)
            return f"{top}_per_{bottom}" if top else f"per_{bottom}"
    return _SANITIZE_NAME_RE.sub("_", unit).strip("_")


def family_name(otel_name: str, unit: str, counter: bool) -> str:
    """The family name the exporter gives a metric: sanitized, unit-suffixed, a counter's ``_total`` taken off."""
    name = sanitize_name(otel_name)
    if counter and name.endswith("_total"):
        name = name[: -len("_total")]
    suffix = map_unit(unit)
    if suffix and not name.endswith("_" + suffix):
        name += "_" + suffix
    return name


def _names_of(otel_name: str, unit: str, kind: MetricType) -> tuple[str, ...]:
    """Family and sample names of one exported OTel metric, in both exposition formats."""
    if kind is MetricType.COUNTER:
        base = family_name(otel_name, unit, counter=True)
        return base, base + "_total"
    base = family_name(otel_name, unit, counter=False)
    if kind is MetricType.GAUGE:
        return (base,)
    return base, base + "_bucket", base + "_count", base + "_sum"


def check_quantile_keys(metric: str, quantiles: Iterable[float]) -> None:
    """Refuse quantiles that would share a statistics key and so one exported gauge (0.5 and 0.500000000001)."""
    seen: dict[str, float] = {}
    for q in quantiles:
        key = quantile_key(q)
        if key in seen:
            raise MetricConflictError(
                f"summary {metric!r}: quantiles {seen[key]!r} and {q!r} both map to {key!r} "
                f"(gauge {metric}_{key.replace('.', '_')}); drop one of them"
            )
        seen[key] = q


@dataclass(frozen=True)
class Exposure:
    """What one family puts on a Prometheus page: each name and the exported metric it comes from."""

    metric: str
    kind: MetricType
    names: dict[str, str]


def exposed_names(
    metric: str,
    kind: MetricType,
    streams: Iterable[tuple[str, str]],
    unit: str,
    quantiles: Iterable[float] = (),
) -> Exposure:
    """Every Prometheus name a family produces; ``streams`` are its (name, description) after Views."""
    names: dict[str, str] = {}
    exported: list[tuple[str, MetricType]] = []
    for stream, description in streams:
        if not is_utf8(stream) or not is_utf8(description):
            raise InvalidMetricNameError(
                f"{kind.value} {metric!r}: a View names or describes it {stream!r} / {description!r}, "
                "which cannot be encoded as UTF-8"
            )
        if kind is MetricType.SUMMARY:
            exported.append((stream, MetricType.HISTOGRAM))
            exported += [(f"{stream}_{quantile_key(q).replace('.', '_')}", MetricType.GAUGE) for q in quantiles]
        else:
            exported.append((stream, kind))
    for otel_name, otel_kind in exported:
        for name in _names_of(otel_name, unit, otel_kind):
            if name in names and names[name] != otel_name:
                raise MetricConflictError(
                    f"{kind.value} {metric!r}: its exported metrics {names[name]!r} and {otel_name!r} would both be "
                    f"exposed to Prometheus as {name!r}"
                )
            names[name] = otel_name
    return Exposure(metric, kind, names)


def _describe(exposure: Exposure, source: str) -> str:
    text = f"{exposure.kind.value} {exposure.metric!r}"
    return text if source == exposure.metric else f"{text} (exported as {source!r})"


class ExposedNames:
    """The Prometheus names claimed so far in one collector; a family reusing one is refused."""

    def __init__(self, own: Iterable[Exposure] = ()) -> None:
        self._owners: dict[str, tuple[Exposure | None, str]] = {name: (None, name) for name in _EXPORTER_NAMES}
        #: Multiprocess: names of other workers' families that clashed here (warned about once, not exported).
        self.refused: set[str] = set()
        for exposure in own:
            self.claim(exposure)

    def check(self, exposure: Exposure) -> None:
        """Raise MetricConflictError naming both metrics if ``exposure`` shares a name with another family."""
        for name, source in exposure.names.items():
            found = self._owners.get(name)
            if found is None:
                continue
            owner, other_source = found
            if owner is None:
                raise MetricConflictError(
                    f"{exposure.kind.value} {exposure.metric!r} would be exposed to Prometheus as {name!r}, "
                    f"which is reserved for {_EXPORTER_OWNER}; choose another name"
                )
            if (owner.metric, owner.kind) != (exposure.metric, exposure.kind):
                raise MetricConflictError(
                    f"{_describe(exposure, source)} and {_describe(owner, other_source)} would both be exposed to "
                    f"Prometheus as {name!r}, which breaks the scrape; rename one of them"
                )

    def claim(self, exposure: Exposure) -> None:
        """Check ``exposure`` and record its names."""
        self.check(exposure)
        for name, source in exposure.names.items():
            self._owners[name] = (exposure, source)
