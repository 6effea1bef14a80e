"""Prometheus text and OpenMetrics lines of facade families, written straight from their values.

The lines are exactly what OpenTelemetry's Prometheus exporter and prometheus_client's writers make of the same data
(names, unit suffixes, HELP/TYPE, sanitised and escaped labels, scope labels, ``le``, values): the header and the
sample names come from prometheus_client itself, once per family and format; each series' label text is rendered
once and reused until the family's set of label names changes. The texts are kept joined, ``CHUNK`` series to a
string (a rendered text never holds a raw newline: it is escaped), about 11 bytes a one-label series instead of a
string object of 60.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from itertools import islice
from json import dumps
from typing import Any

from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from prometheus_client import utils as _utils
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from .._engine.family import Family
from .._model.names import map_unit, sanitize_name
from .._model.records import MetricType
from .._model.validation import prometheus_label

__all__ = ["CHUNK", "Encoder", "FamilyText", "label_value", "scope_labels"]

#: Series whose label texts are kept joined in one string, and whose lines are written (and encoded) at a time.
CHUNK = 4096

_go: Callable[[Any], str] = _utils.floatToGoString

#: A prometheus_client encoder (``generate_latest`` of either format, possibly a ``functools.partial``).
Encoder = Callable[[Any], bytes]

_KINDS: dict[MetricType, Any] = {
    MetricType.COUNTER: CounterMetricFamily,
    MetricType.GAUGE: GaugeMetricFamily,
    MetricType.HISTOGRAM: HistogramMetricFamily,
}


class _One:
    """A registry of one prometheus_client family (what an encoder reads)."""

    def __init__(self, metric: Any) -> None:
        self._metric = metric

    def collect(self) -> list[Any]:
        return [self._metric]


def label_value(value: Any) -> str:
    """An attribute value as OTel's exporter writes a label value (non-strings as JSON)."""
    return value if value.__class__ is str else dumps(value, default=str)


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def fmt(value: Any) -> str:
    """A sample value as prometheus_client writes it (``floatToGoString``), small ints without the call."""
    if value.__class__ is int and 0 <= value < 1_000_000:
        return f"{value}.0"
    return _go(value)


def scope_labels(scope: InstrumentationScope) -> dict[str, str]:
    """The ``otel_scope_*`` labels OTel's exporter puts on every point of ``scope``."""
    out: dict[str, Any] = {}
    for key, value in (scope.attributes or {}).items():
        out["otel_scope_" + key] = value
    out["otel_scope_name"] = scope.name or ""
    out["otel_scope_version"] = scope.version or ""
    out["otel_scope_schema_url"] = scope.schema_url or ""
    return out


class FamilyText:
    """One facade family's rendering state: its Prometheus name, headers and sample names per format, label texts."""

    def __init__(self, family: Family, scope: Mapping[str, Any]) -> None:
        self.family = family
        self.kind = family.kind
        #: The exporter's ``sanitize_attribute`` for keys the facade accepts (never a leading digit).
        self._sanitize: Callable[[str], str] = prometheus_label
        self._scope = {self._sanitize(k): label_value(v) for k, v in scope.items()}
        self._keys: dict[str, str] = {}
        unit = map_unit(family.unit or "")  # the exporter's rules, mirrored in _model.names and tested against it
        self._make: Callable[[], Any] = lambda: _KINDS[family.kind](
            sanitize_name(family.name), family.description or "", labels=["a"], unit=unit
        )
        #: prometheus_client's name of the family (``_total`` stripped from counters, unit suffix added).
        self.name: str = self._make().name
        self._formats: dict[Any, tuple[bytes, tuple[str, ...]]] = {}
        #: The last scrape's series keys, in order, and their label texts rendered for ``_mark``, ``CHUNK`` series
        #: to a string joined by newlines (a histogram's series: text, text before ``le``, text after it). No entry
        #: object per series: a scrape whose keys start with the same keys (none removed) reuses them unhashed.
        self._seen: list[Any] = []
        self._done: list[str] = []
        self._union: tuple[str, ...] = ()
        #: The scope labels' text when they are the last labels of every line (counters, gauges): kept once, not
        #: in every series' text (about 80 bytes a series).
        self.suffix = ""
        self._collides = False  # a series has a label of a scope label's name: every text is written whole
        self._mark: tuple[tuple[str, ...], bool] = ((), False)  # (label names, suffix used) the texts are for
        self._shapes: dict[tuple[str, ...], frozenset[str]] = {}  # label names -> exported label names
        self._common: frozenset[str] | None = None  # the first series' exported label names
        self._odd: dict[Any, frozenset[str]] = {}  # keys whose label names differ from ``_common``

    def form(self, encoder: Encoder, key: Any) -> tuple[bytes, tuple[str, ...]]:
        """(HELP/TYPE header, sample names) in the format ``encoder`` writes, taken from prometheus_client once."""
        found = self._formats.get(key)
        if found is None:
            probe = self._make()
            if self.kind is MetricType.HISTOGRAM:
                probe.add_metric(["x"], buckets=[("+Inf", 1)], sum_value=1)
            else:
                probe.add_metric(["x"], 1)
            lines = encoder(_One(probe)).decode().split("\n")[:-1]  # only "\n" ends a line (not U+2028, ...)
            header = "".join(line + "\n" for line in lines if line.startswith("#") and line != "# EOF")
            names = tuple(line.partition("{")[0] for line in lines if not line.startswith("#"))
            found = self._formats[key] = (header.encode(), names)
        return found

    def _labels(self, attributes: Mapping[str, Any]) -> dict[str, str]:
        out = dict(self._scope)
        keys = self._keys
        for key, value in attributes.items():
            name = keys.get(key)
            if name is None:
                name = keys[key] = self._sanitize(key)
                self._collides = self._collides or name in self._scope
            out[name] = label_value(value)
        return out

    def _shape(self, key: Any) -> frozenset[str]:
        """The exported label names of a series (its label key's names, or its attributes' keys), scope included."""
        names = tuple(key) if isinstance(key, Mapping) else tuple(k for k, _ in key)
        found = self._shapes.get(names)
        if found is None:
            exported = {self._sanitize(name) for name in names}
            self._collides = self._collides or not exported.isdisjoint(self._scope)
            found = self._shapes[names] = frozenset(self._scope).union(exported)
        return found

    def _render(self, key: Any) -> str:
        """A series' label text for this scrape's label names (a histogram's: text, text before and after ``le``)."""
        labels = self._labels(key if isinstance(key, Mapping) else dict(key))
        pairs = [(k, _escape(labels.get(k, ""))) for k in self._union]
        if self.suffix:  # the scope labels are written after this text
            pairs = pairs[: len(pairs) - len(self._scope)]
        text = ",".join(f'{k}="{v}"' for k, v in pairs)
        if self.kind is not MetricType.HISTOGRAM:
            return text
        lead = "".join(f'{k}="{v}",' for k, v in pairs if k < "le")
        return text + "\n" + lead + "\n" + "".join(f',{k}="{v}"' for k, v in pairs if k > "le")

    def _records(self, chunks: list[str]) -> list[str]:
        """The rendered texts kept in ``chunks``, one string per series (what ``_render`` returned)."""
        if not chunks:
            return []
        fields = "\n".join(chunks).split("\n")
        if self.kind is not MetricType.HISTOGRAM:
            return fields
        return ["\n".join(fields[i : i + 3]) for i in range(0, len(fields), 3)]

    def texts(self, keys: list[Any], hashable: bool) -> list[str]:
        """The label texts of this scrape's series, in order, ``CHUNK`` to a string: rendered once, then kept.

        ``keys`` are label keys (``hashable``) or OTel attribute dicts; series past the last scrape's are
        rendered, and after a removal the kept texts are found by key (attribute dicts: rendered again).
        """
        n = len(self._seen)
        prefix = n <= len(keys) and (keys if n == len(keys) else keys[:n]) == self._seen
        known: dict[Any, str] = {}
        if prefix:  # no series removed: the kept texts are this scrape's first ones
            fresh = keys[n:]
        elif hashable:  # a series was removed: the kept texts are found by key
            known = dict(zip(self._seen, self._records(self._done)))
            self._odd = {key: self._odd[key] for key in keys if key in self._odd}
            fresh = [key for key in keys if key not in known]
        else:
            fresh = keys
        for key in fresh:
            shape = self._shape(key)
            if self._common is None:
                self._common = shape
            elif shape != self._common and hashable:
                self._odd[key] = shape
        common = self._common if self._common is not None else frozenset()
        if not hashable:
            shapes = {self._shape(key) for key in keys}
        elif self._odd:
            shapes = {self._odd.get(key, common) for key in keys}
        else:  # most families: every series has the first one's label names, nothing to look up per series
            shapes = {common} if keys else set()
        done = self._done
        if self._settle(shapes):  # other label names than the kept texts': all of them rendered again
            done = _chunked(map(self._render, keys))
        elif not prefix:
            done = _chunked(known[key] if key in known else self._render(key) for key in keys)
        elif fresh:  # the last, partly filled chunk and the new series' texts
            last = self._records(done[-1:])
            done = done[:-1] + _chunked([*last, *map(self._render, fresh)])
        self._seen, self._done = keys, done
        return done

    def _settle(self, shapes: set[frozenset[str]]) -> bool:
        """Take this scrape's label names (the union of its series'); whether they differ from the kept texts'."""
        names: set[str] = set()
        for shape in shapes:
            names |= shape
        if self.kind is MetricType.HISTOGRAM:
            names.discard("le")
        union = tuple(sorted(names))
        scope = tuple(sorted(self._scope))
        last = not self._collides and self.kind is not MetricType.HISTOGRAM and bool(scope)
        last = last and union[len(union) - len(scope) :] == scope
        if (union, last) == self._mark:
            return False
        self.suffix = ",".join(f'{k}="{_escape(self._scope[k])}"' for k in scope) if last else ""
        self._mark = (union, last)
        self._union = union
        return True

    def cached(self) -> int:
        """How many series' label texts are kept (the last scrape's: removed series are forgotten)."""
        return len(self._seen)

    def write(self, names: tuple[str, ...], chunks: list[str], values: list[Any], om: bool) -> Iterable[bytes]:
        """The sample lines of this scrape's series (``chunks`` from ``texts``), encoded ``CHUNK`` series at a time."""
        for start, chunk in zip(range(0, len(values), CHUNK), chunks):
            out: list[str] = []
            fields, part = chunk.split("\n"), values[start : start + CHUNK]
            if self.kind is MetricType.HISTOGRAM:
                rows = list(zip(fields[0::3], fields[1::3], fields[2::3]))
                self.histogram_lines(names, rows, part, out, om)
            else:
                self.number_lines(names[0], fields, part, out)
            yield "".join(out).encode()

    def number_lines(self, name: str, rows: list[str], values: list[Any], out: list[str]) -> None:
        """``name{labels} value`` per series."""
        suffix = self.suffix
        if suffix:
            bare = f"{name}{{{suffix}}} "
            for text, value in zip(rows, values):
                out.append(f"{name}{{{text},{suffix}}} {fmt(value)}\n" if text else f"{bare}{fmt(value)}\n")
            return
        for text, value in zip(rows, values):
            out.append(f"{name}{{{text}}} {fmt(value)}\n" if text else f"{name} {fmt(value)}\n")

    def histogram_lines(
        self,
        names: tuple[str, ...],
        rows: list[tuple[str, str, str]],
        values: list[tuple[list[Any], Any, Any]],
        out: list[str],
        exemplars: bool,
    ) -> None:
        """Cumulative ``_bucket`` lines (``le`` in label order), ``_count`` and ``_sum`` per series."""
        bucket, count_name, sum_name = names
        bounds = [f"{b}" for b in self.family.bounds] + ["+Inf"]
        negative = float(bounds[0]) < 0
        for (text, lead, tail), (counts, total, marks) in zip(rows, values):
            cumulative = 0
            for i, (le, c) in enumerate(zip(bounds, counts)):
                cumulative += int(c)
                line = f'{bucket}{{{lead}le="{le}"{tail}}} {fmt(cumulative)}'
                if exemplars and marks and i in marks:
                    value, at, trace_id, span_id = marks[i]
                    line += f' # {{span_id="{span_id:016x}",trace_id="{trace_id:032x}"}} {fmt(value)} {at / 1e9!r}'
                out.append(line + "\n")
            if negative:  # prometheus_client writes no _count/_sum when the first bound is below zero
                continue
            labels = f"{{{text}}}" if text else ""
            out.append(f"{count_name}{labels} {fmt(cumulative)}\n")
            out.append(f"{sum_name}{labels} {fmt(total)}\n")


def _chunked(records: Iterable[str]) -> list[str]:
    """``records`` joined by newlines, ``CHUNK`` to a string (only one chunk's strings exist at a time)."""
    out: list[str] = []
    items = iter(records)
    while part := list(islice(items, CHUNK)):
        out.append("\n".join(part))
    return out
