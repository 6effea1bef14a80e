"""OTLP protobuf wire bytes of facade counters, gauges and explicit-bucket histograms, written without OTel points.

Each ``Metric`` is encoded as OTel's ``encode_metrics`` encodes the one the bridge would have made of the family
(same fields, int vs double values, start times, exemplars); a series' attribute bytes are cached and reused.
tests/test_otlp_equivalence.py decodes both with the official ``opentelemetry.proto`` classes and compares them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from struct import Struct
from typing import Any

from .._engine.family import Family
from .._engine.source import Source
from .._model.records import MetricType

__all__ = ["FamilyWire", "delimited", "varint"]

_FIXED64 = Struct("<Q").pack
_SFIXED64 = Struct("<q").pack
_DOUBLE = Struct("<d").pack
_CUMULATIVE = b"\x10\x02"  # aggregation_temporality = AGGREGATION_TEMPORALITY_CUMULATIVE
_MONOTONIC = b"\x18\x01"  # Sum.is_monotonic = true


def varint(n: int) -> bytes:
    """``n`` (>= 0) as a protobuf base-128 varint."""
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def delimited(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: ``tag``, the payload's length, the payload."""
    return tag + varint(len(payload)) + payload


def _any_value(value: Any) -> bytes:
    """An ``AnyValue`` as OTel's encoder writes a str, bool, int or float attribute value."""
    if isinstance(value, str):
        return delimited(b"\x0a", value.encode())
    if isinstance(value, bool):
        return b"\x10" + varint(int(value))
    if isinstance(value, int):
        return b"\x18" + varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE(value)
    raise TypeError(f"OTLP attribute values must be str, bool, int or float, got {value!r}")


def attributes(tag: bytes, attrs: Mapping[str, Any]) -> bytes:
    """The repeated ``KeyValue`` fields (``tag`` each) of ``attrs``, in their order."""
    return b"".join(
        delimited(tag, delimited(b"\x0a", key.encode()) + delimited(b"\x12", _any_value(value)))
        for key, value in attrs.items()
    )


def _exemplar(value: Any, at: int, trace_id: int | None, span_id: int | None) -> bytes:
    """An ``Exemplar`` (no filtered attributes) as OTel's encoder writes the bridge's."""
    body = b"\x11" + _FIXED64(at)
    if isinstance(value, float):
        body += b"\x19" + _DOUBLE(value)
    else:
        body += b"\x31" + _SFIXED64(value)
    if span_id is not None and trace_id is not None:
        body += b"\x22\x08" + span_id.to_bytes(8, "big") + b"\x2a\x10" + trace_id.to_bytes(16, "big")
    return delimited(b"\x42", body)


def _number(value: Any) -> bytes:
    """``as_int`` for an int (as OTel's encoder decides), otherwise ``as_double``: 9 bytes either way."""
    return b"\x31" + _SFIXED64(value) if isinstance(value, int) else b"\x21" + _DOUBLE(value)


class FamilyWire:
    """One family's cached OTLP bytes: its metric header and, per series, the point's leading bytes."""

    def __init__(self, family: Family) -> None:
        self.family = family
        self.kind = family.kind
        head = delimited(b"\x0a", family.name.encode())
        if family.description:
            head += delimited(b"\x12", family.description.encode())
        if family.unit:
            head += delimited(b"\x1a", family.unit.encode())
        self._head = head
        self._bounds = b"".join(_DOUBLE(b) for b in family.bounds) if family.kind is MetricType.HISTOGRAM else b""
        #: label key (multiprocess) or id of the series' attributes -> [key or attributes, start, leading bytes]
        self._entries: dict[Any, list[Any]] = {}

    def encode(self, source: Source, now: int) -> tuple[bytes, int]:
        """The family's ``Metric`` bytes at ``now`` and its number of points."""
        if self.kind is MetricType.HISTOGRAM:
            points = self._histogram_points(source, now)
            data = b"\x4a", b"".join(points) + _CUMULATIVE
        else:
            points = self._number_points(source, now)
            counter = self.kind is MetricType.COUNTER
            data = (b"\x3a", b"".join(points) + _CUMULATIVE + _MONOTONIC) if counter else (b"\x2a", b"".join(points))
        if len(self._entries) > 2 * len(points) + 64:  # removed series: forget their bytes
            self._entries.clear()
        if not points:  # OTel's encoder sets the data field only while adding a point
            return self._head, 0
        return self._head + delimited(*data), len(points)

    def _number_points(self, source: Source, now: int) -> list[bytes]:
        family = self.family
        keyed = getattr(source, "keyed_values", None)
        pairs = keyed(family) if keyed is not None else source.values(family)
        counter = self.kind is MetricType.COUNTER
        stamp = b"\x19" + _FIXED64(now)
        entries = self._entries
        start_of = family.start_of
        out = []
        for key, value in pairs:
            found = entries.get(key if keyed is not None else id(key))
            attrs = dict(key) if keyed is not None else key
            start = start_of(attrs) if counter else 0
            if found is None or found[1] != start or (keyed is None and found[0] is not key):
                head = attributes(b"\x3a", attrs) + (b"\x11" + _FIXED64(start) if counter else b"")
                found = [key, start, b"\x0a" + varint(len(head) + 18) + head]  # + time and value: 9 bytes each
                entries[key if keyed is not None else id(key)] = found
            out.append(found[2] + stamp + _number(value))
        return out

    def _histogram_points(self, source: Source, now: int) -> list[bytes]:
        family = self.family
        entries = self._entries
        stamp = b"\x19" + _FIXED64(now)
        bounds = b"\x3a" + varint(len(self._bounds)) + self._bounds
        out = []
        for attrs, snap, found_exemplars in source.distributions(family):
            key = tuple(sorted(attrs.items()))  # the OTel path groups a histogram's series by sorted attributes
            start = family.start_of(dict(key))
            found = entries.get(key)
            if found is None or found[1] != start:
                head = attributes(b"\x4a", dict(key)) + b"\x11" + _FIXED64(start)
                found = entries[key] = [key, start, head]
            counts = [int(c) for c in snap.counts]
            count = sum(counts)
            low, high = snap.min, snap.max
            body = [found[2], stamp, b"\x21", _FIXED64(count), b"\x29", _DOUBLE(snap.sum)]
            body.append(delimited(b"\x32", Struct(f"<{len(counts)}Q").pack(*counts)))
            body.append(bounds)
            if found_exemplars:
                body.extend(_exemplar(*exemplar) for exemplar in found_exemplars.values())
            body.append(b"\x59" + _DOUBLE(0.0 if not count or not math.isfinite(low) else low))
            body.append(b"\x61" + _DOUBLE(0.0 if not count or not math.isfinite(high) else high))
            out.append(delimited(b"\x0a", b"".join(body)))
        return out
