"""How a MeterProvider's Views shape a facade family: its exported streams, or none when a View drops it.

The bridge applies Views itself (the facade's series never enter the SDK's aggregations), so this module
interprets each matching View as the SDK would for an instrument of the family's kind, and says so in a
warning when a View asks for something that cannot apply, instead of exporting silently something else.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.view import (
    DefaultAggregation,
    DropAggregation,
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    LastValueAggregation,
    SumAggregation,
    View,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from .._engine.family import Family
from .._model.records import MetricType
from .._version import __version__
from . import compat
from .compat import PROBES
from .points import Stream

__all__ = [
    "SCOPE",
    "Target",
    "matching",
    "rebucket",
    "as_scope",
    "scope_of",
    "streams",
    "view_buckets",
    "view_exponential",
    "warn_bounds",
    "warn_layout",
]

_log = logging.getLogger("rfs_otel")
_warned: set[tuple[str, tuple[float, ...], tuple[float, ...]]] = set()

#: The aggregations that apply to each kind of facade metric, besides the default and drop.
_HISTOGRAMS = (MetricType.HISTOGRAM, MetricType.SUMMARY)
_FITS: dict[MetricType, tuple[type, ...]] = {
    MetricType.COUNTER: (SumAggregation,),
    MetricType.GAUGE: (LastValueAggregation,),
    MetricType.HISTOGRAM: (ExplicitBucketHistogramAggregation,),
    MetricType.SUMMARY: (ExplicitBucketHistogramAggregation,),
}


def matching(
    views: Sequence[View], scope: InstrumentationScope, name: str, unit: str, description: str, kind: MetricType
) -> list[View]:
    """The Views selecting a family, probed as the OTel instrument types it stands for."""
    if not views:
        return []
    probes = [cls(name, scope, None, unit=unit, description=description) for cls in PROBES[kind]]
    return [view for view in views if any(compat.view_matches(view, probe) for probe in probes)]


def streams(
    views: Sequence[View],
    scope: InstrumentationScope,
    name: str,
    unit: str,
    description: str,
    kind: MetricType,
    *,
    warn: bool = False,
) -> tuple[Stream, ...]:
    """The streams Views make of a family (the family itself when no View matches; none when all drop it)."""
    selected = matching(views, scope, name, unit, description, kind)
    if not selected:
        return (Stream(name, description, None),)
    out = []
    for view in selected:
        aggregation = compat.view_aggregation(view)
        if isinstance(aggregation, DropAggregation):
            continue
        bounds, exponential = None, None
        if isinstance(aggregation, DefaultAggregation):
            pass
        elif isinstance(aggregation, ExponentialBucketHistogramAggregation) and kind is MetricType.HISTOGRAM:
            exponential = compat.view_exponential(view)
        elif isinstance(aggregation, ExponentialBucketHistogramAggregation) and kind is MetricType.SUMMARY:
            if warn:
                _log.warning(
                    "a summary keeps its explicit buckets: summary %r matched by a View with "
                    "ExponentialBucketHistogramAggregation is exported with explicit buckets (use a histogram)",
                    name,
                )
        elif not isinstance(aggregation, _FITS[kind]):
            if warn:
                _log.warning(
                    "a View's %s cannot apply to %s %r (expected one of %s, DefaultAggregation or DropAggregation); "
                    "it is exported with its default aggregation",
                    type(aggregation).__name__,
                    kind.value,
                    name,
                    [cls.__name__ for cls in _FITS[kind]],
                )
        elif kind in _HISTOGRAMS:
            bounds = compat.view_boundaries(view)
        out.append(
            Stream(
                compat.view_name(view) or name,
                compat.view_description(view) or description,
                compat.view_attribute_keys(view),
                bounds,
                exponential,
            )
        )
    return tuple(out)


def view_buckets(
    views: Sequence[View], scope: InstrumentationScope, name: str, unit: str, description: str
) -> tuple[float, ...] | None:
    """Bucket bounds a matching View's ExplicitBucketHistogramAggregation imposes, if any."""
    for view in matching(views, scope, name, unit, description, MetricType.HISTOGRAM):
        bounds = compat.view_boundaries(view)
        if bounds is not None:
            return bounds
    return None


def view_exponential(
    views: Sequence[View], scope: InstrumentationScope, name: str, unit: str, description: str
) -> tuple[int, int] | None:
    """``(max_size, max_scale)`` a matching View's ExponentialBucketHistogramAggregation asks for, if any."""
    for view in matching(views, scope, name, unit, description, MetricType.HISTOGRAM):
        found = compat.view_exponential(view)
        if found is not None:
            return found
    return None


def warn_layout(name: str, exponential: bool) -> None:
    """Say once that a View asks a histogram for the other layout than the one it records with."""
    key = (name, (float(exponential),), ())
    if key in _warned:
        return
    _warned.add(key)
    if exponential:
        _log.warning("histogram %r records as an exponential histogram; a View's explicit buckets cannot apply", name)
    else:
        _log.warning(
            "histogram %r records with explicit buckets (created before a View asked for "
            "ExponentialBucketHistogramAggregation); it is exported with its explicit buckets",
            name,
        )


def scope_of(family: Family) -> InstrumentationScope:
    """The instrumentation scope ``family`` exports under: its meter's, or rfs_otel's."""
    return as_scope(family.scope)


def as_scope(scope: tuple[str, str | None, str | None] | None) -> InstrumentationScope:
    """A meter's ``(name, version, schema_url)`` as an InstrumentationScope (None: rfs_otel's own)."""
    if scope is None:
        return SCOPE
    name, version, schema_url = scope
    return InstrumentationScope(name, version, schema_url)


def rebucket(counts: Sequence[int], family: Sequence[float], wanted: Sequence[float]) -> list[int] | None:
    """``counts`` over ``family``'s bounds regrouped over ``wanted``; None unless ``wanted`` ⊆ ``family``."""
    if tuple(family) == tuple(wanted):
        return list(counts)
    if not set(wanted) <= set(family):
        return None
    out = [0] * (len(wanted) + 1)
    for i, count in enumerate(counts):
        out[bisect.bisect_left(wanted, family[i]) if i < len(family) else len(wanted)] += count
    return out


def warn_bounds(name: str, recorded: Sequence[float], wanted: Sequence[float]) -> None:
    """Say once that a View's bounds cannot regroup a histogram recorded with other bounds."""
    key = (name, tuple(recorded), tuple(wanted))
    if key in _warned:
        return
    _warned.add(key)
    _log.warning(
        "histogram %r was recorded with bounds %s before a View asked for %s, which are not a subset of them; "
        "it is exported with its recorded bounds",
        name,
        list(recorded),
        list(wanted),
    )


SCOPE = InstrumentationScope("rfs_otel", __version__)


class Target:
    """One MeterProvider the bridge feeds: its Views, its resource and the streams they make of each family."""

    def __init__(self, provider: MeterProvider) -> None:
        self.provider = provider
        self.views = compat.provider_views(provider)
        self.resource = compat.provider_resource(provider)
        self.active = True
        self.streams: dict[int, tuple[Stream, ...]] = {}

    def streams_of(self, family: Family) -> tuple[Stream, ...]:
        """The family's streams under this provider's Views (computed once; a View that cannot apply warns then)."""
        found = self.streams.get(id(family))
        if found is None:
            scope = scope_of(family)
            found = streams(self.views, scope, family.name, family.unit, family.description, family.kind, warn=True)
            self.streams[id(family)] = found
        return found
