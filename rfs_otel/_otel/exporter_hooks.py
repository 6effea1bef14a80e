"""Native summaries in the optional exporters, and every private exporter name that takes, in one place.

OTel has no Summary point type, so rfs_otel teaches the exporters to write its ``SummaryData`` (``summary.py``):
OTLP protobuf and JSON encode it as ``Summary`` points, the Prometheus exporter renders a ``summary`` family.
Only exporter modules already imported are hooked, at each collection of a summary: an exporter that encodes a
collection was imported before it, so that is in time, and a service that never exports OTLP never imports
protobuf for it. A module another thread is still importing is left for the next collection (a forked child
could otherwise wait forever on its import lock, and its names may not exist yet).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .compat import sdk_version

__all__ = ["SUMMARY_HOOK_NAMES", "hook_imported_exporters", "imported_exporter"]

_PB2 = "opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder"
_JSON = "opentelemetry.exporter.otlp.json.common._internal.metrics_encoder"
_PROMETHEUS = "opentelemetry.exporter.prometheus"
_MAPPING = "opentelemetry.exporter.prometheus._mapping"

#: Private names of the optional exporters the summary hooks use, per module (checked when hooks install).
SUMMARY_HOOK_NAMES: dict[str, tuple[str, ...]] = {
    _PB2: ("_encode_metric", "_encode_attributes"),
    _JSON: ("_encode_metric", "_encode_attributes"),
    _PROMETHEUS: ("_CustomCollector",),
    _MAPPING: ("sanitize_attribute", "map_unit"),
}
_PROMETHEUS_METHODS = ("_translate_metric", "_resolve_metric_name", "_check_value")


#: Exporter modules hooked already (or found hooked): the per-collection check skips them.
_hooked: set[str] = set()


def imported_exporter(name: str) -> Any:
    """The exporter module ``name`` once fully imported (None before), with the private names the hooks use.

    Raises ImportError naming the installed versions when the module is there but a name is gone.
    """
    module = sys.modules.get(name)
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        return None
    missing = [f"{name}.{n}" for n in SUMMARY_HOOK_NAMES[name] if not hasattr(module, n)]
    if name == "opentelemetry.exporter.prometheus":
        collector = getattr(module, "_CustomCollector", None)
        missing += [f"_CustomCollector.{n}()" for n in _PROMETHEUS_METHODS if not callable(getattr(collector, n, None))]
    if missing:
        raise ImportError(
            f"rfs_otel cannot export native summaries with these OpenTelemetry exporters (sdk {sdk_version()}): "
            f"it relies on {missing}, which they do not have; install the versions pyproject.toml names"
        )
    return module


def hook_imported_exporters(
    kind: type, encode_pb2: Callable[..., None], encode_json: Callable[..., Any], render: Any
) -> None:
    """Teach the exporters imported by now to write ``kind`` metrics (rfs_otel's summary data) as native summaries.

    OTLP protobuf and JSON encode them as ``Summary`` points; the Prometheus exporter renders them with
    ``render(name, documentation, unit, label_names, rows)`` (same name, unit and scope-label handling as its
    own families). Idempotent, and a few dictionary lookups once every imported exporter is hooked.
    """
    if _PB2 not in _hooked and (pb2 := imported_exporter(_PB2)) is not None:
        if not getattr(pb2._encode_metric, "rfs_summary", False):
            pb2_original, pb2_attributes = pb2._encode_metric, pb2._encode_attributes

            def encode_metric_pb2(metric: Any, pb2_metric: Any) -> None:
                if isinstance(metric.data, kind):
                    encode_pb2(metric, pb2_metric, pb2_attributes)
                else:
                    pb2_original(metric, pb2_metric)

            encode_metric_pb2.rfs_summary = True  # type: ignore[attr-defined]
            pb2._encode_metric = encode_metric_pb2
        _hooked.add(_PB2)
    if _JSON not in _hooked and (as_json := imported_exporter(_JSON)) is not None:
        if not getattr(as_json._encode_metric, "rfs_summary", False):
            json_original, json_attributes = as_json._encode_metric, as_json._encode_attributes

            def encode_metric_json(metric: Any) -> Any:
                if isinstance(metric.data, kind):
                    return encode_json(metric, json_attributes)
                return json_original(metric)

            encode_metric_json.rfs_summary = True  # type: ignore[attr-defined]
            as_json._encode_metric = encode_metric_json
        _hooked.add(_JSON)
    if _PROMETHEUS not in _hooked and (prometheus := imported_exporter(_PROMETHEUS)) is not None:
        mapping = imported_exporter(_MAPPING)
        if mapping is not None:
            _hook_prometheus(prometheus._CustomCollector, mapping, kind, render)
            _hooked.add(_PROMETHEUS)


def _hook_prometheus(collector: Any, mapping: Any, kind: type, render: Any) -> None:
    original = collector._translate_metric
    if getattr(original, "rfs_summary", False):
        return

    def translate_metric(
        self: Any,
        metric: Any,
        scope_attrs: dict[str, Any],
        resource_attrs: dict[str, Any],
        metric_family_id_metric_family: dict[str, Any],
    ) -> None:
        if not isinstance(metric.data, kind):
            original(self, metric, scope_attrs, resource_attrs, metric_family_id_metric_family)
            return
        name, unit = self._resolve_metric_name(metric.name), mapping.map_unit(metric.unit or "")
        data: Any = metric.data
        label_rows: list[dict[str, str]] = []
        for point in data.data_points:
            merged = {**resource_attrs, **scope_attrs, **point.attributes}
            label_rows.append({mapping.sanitize_attribute(k): self._check_value(v) for k, v in merged.items()})
        names = sorted({k for row in label_rows for k in row})
        rows = [
            ([row.get(k, "") for k in names], point.count, point.sum, point.quantile_values)
            for row, point in zip(label_rows, data.data_points)
        ]
        family_id = "|".join((name, metric.description or "", unit, "summary"))
        metric_family_id_metric_family[family_id] = render(name, metric.description or "", unit, names, rows)

    translate_metric.rfs_summary = True  # type: ignore[attr-defined]
    collector._translate_metric = translate_metric
