"""OTel's Prometheus reader with a direct path: facade counters, gauges and histograms written without OTel points.

A scrape renders what the OTel path (SDK instruments, summaries, families a View reshapes, ``target_info``) makes
of everything else through OTel's exporter and prometheus_client, then appends the facade families the bridge left
out, rendered by ``prom_text`` as that path would have rendered them. Both parts come from one collection.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any, Protocol

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from prometheus_client import exposition
from prometheus_client.openmetrics import exposition as openmetrics

from .._engine.family import Family
from .._engine.source import Pairs, Source
from .._model.records import MetricType
from .direct_state import DirectState, as_is
from .points import Stream
from .prom_exemplars import ExemplarIndex, exemplar_index, with_exemplars
from .prom_text import Encoder, FamilyText, scope_labels
from .views import SCOPE

__all__ = ["DirectPrometheusReader", "encoder_for"]

_DIRECT = (MetricType.COUNTER, MetricType.GAUGE, MetricType.HISTOGRAM)
_ESCAPINGS = (openmetrics.UNDERSCORES, openmetrics.ALLOWUTF8)


class Producer(Protocol):
    """What the reader needs from the bridge (``SdkBridge``), which it must not import."""

    direct: DirectState

    def collecting(self) -> contextlib.AbstractContextManager[Source]: ...

    def streams(self, name: str, unit: str, description: str, kind: MetricType, **scope: Any) -> tuple[Stream, ...]:
        """The streams the provider's Views make of a family (``scope=``: a meter's, where families have one)."""


def encoder_for(accept: str) -> tuple[Encoder, str]:
    """prometheus_client's encoder and content type for an ``Accept`` header (text unless OpenMetrics is asked)."""
    encoder, content_type = exposition.choose_encoder(accept)
    return encoder, content_type


def _scope(family: Family) -> InstrumentationScope:
    """The instrumentation scope ``family`` is exported under: rfs_otel's, or its meter's ``(name, version, url)``."""
    scope = getattr(family, "scope", None)
    if scope is None:
        return SCOPE
    if isinstance(scope, InstrumentationScope):
        return scope
    name, version, schema_url = scope
    return InstrumentationScope(name, version, schema_url)


class _Recording:
    """The storage's registry as an encoder reads it, noting the names of the families it yields."""

    def __init__(self, registry: Any, names: set[str], exemplars: ExemplarIndex) -> None:
        self._registry = registry
        self._names = names
        self._exemplars = exemplars  # of families a View reshaped (OTel's exporter drops them)

    def collect(self) -> Iterator[Any]:
        for metric in self._registry.collect():
            self._names.add(metric.name)
            yield with_exemplars(metric, self._exemplars) if self._exemplars else metric


class DirectPrometheusReader(PrometheusMetricReader):
    """``PrometheusMetricReader`` whose scrape renders the bridge's plain families directly."""

    def __init__(self, registry: Any, scope_labels: bool, target_info: bool) -> None:
        super().__init__(disable_target_info=not target_info, scope_info_enabled=scope_labels, registry=registry)
        self.registry = registry
        self._scope_labels = scope_labels
        self._producer: Producer | None = None
        self._texts: dict[int, FamilyText] = {}

    def bind_bridge(self, producer: Producer) -> None:
        """Called by the bridge feeding this reader: its families can then be rendered directly."""
        self._producer = producer

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Unbind the bridge and drop the cached texts: a shut-down reader renders nothing, as OTel's does."""
        self._producer = None
        self._texts = {}
        super().shutdown(timeout_millis=timeout_millis, **kwargs)

    def cached_series(self) -> int:
        """How many series' label texts the direct path holds (bounded: removed series are forgotten)."""
        return sum(text.cached() for text in list(self._texts.values()))

    def exposition(self, encoder: Encoder = exposition.generate_latest) -> bytes:
        """The scrape body ``encoder``'s format would give, facade families rendered directly where they can be."""
        producer = self._producer
        func = getattr(encoder, "func", encoder)
        keywords = getattr(encoder, "keywords", {})
        om = func is openmetrics.generate_latest
        if producer is None or keywords.get("escaping", openmetrics.UNDERSCORES) not in _ESCAPINGS:
            return encoder(self.registry)
        if not (om or func is exposition.generate_latest):
            return encoder(self.registry)
        form = (func, tuple(sorted(keywords.items())))
        with producer.collecting() as source:
            families = producer.direct.families()
            direct = [f for f in families if f.kind in _DIRECT and as_is(producer, f)]
            reshaped = [f for f in families if om and f.kind is MetricType.HISTOGRAM and f not in direct]
            exemplars = exemplar_index(producer, source, reshaped) if reshaped else {}
            names: set[str] = set()
            with producer.direct.excluding(direct):
                body = encoder(_Recording(self.registry, names, exemplars))
            texts = [self._text(family) for family in direct]
            if any(text.name in names for text in texts):  # another library's instrument of the same name
                texts = [text for text in texts if text.name not in names]
                with producer.direct.excluding([text.family for text in texts]):
                    body = encoder(_Recording(self.registry, set(), exemplars))
            sink = io.BytesIO()  # written once: no list of chunks beside the joined body
            sink.write(body[: -len(b"# EOF\n")] if om and body.endswith(b"# EOF\n") else body)
            for text in texts:
                self._render(text, source, encoder, form, om, sink)
        if om:
            sink.write(b"# EOF\n")
        return sink.getvalue()  # the buffer itself, not a copy

    def _text(self, family: Family) -> FamilyText:
        text = self._texts.get(id(family))
        if text is None or text.family is not family:
            labels = scope_labels(_scope(family)) if self._scope_labels else {}
            text = self._texts[id(family)] = FamilyText(family, labels)
        return text

    def _render(
        self, text: FamilyText, source: Source, encoder: Encoder, form: Any, om: bool, sink: io.BytesIO
    ) -> None:
        header, names = text.form(encoder, form)
        family = text.family
        # keyed by label key (multiprocess; local: ``label_*``, which builds no per-series attribute dicts)
        keyed = getattr(source, "keyed_values", None) or getattr(source, "label_values", None)
        histogram = family.kind is MetricType.HISTOGRAM
        values: list[Any]
        if histogram:
            keyed = getattr(source, "keyed_distributions", None) or getattr(source, "label_distributions", None)
            if keyed is not None:
                pairs = keyed(family)
            else:
                pairs = [(a, (snap.counts, snap.sum, marks)) for a, snap, marks in source.distributions(family)]
        else:
            pairs = keyed(family) if keyed is not None else source.values(family)
        if isinstance(pairs, Pairs):
            keys, values = pairs.keys, pairs.values
        else:
            keys, values = [key for key, _ in pairs], [value for _, value in pairs]
        del pairs  # its tuples are not needed while the lines are written (the peak is at the end)
        chunks = text.texts(keys, hashable=keyed is not None)
        sink.write(header)
        for lines in text.write(names, chunks, values, om):
            sink.write(lines)
