"""``to_prometheus_rules``: the same alert rules and SLOs as a Prometheus alerting-rules YAML file."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from .._collector import MetricsCollector
from .._default import get_metrics_collector
from .._model.records import MetricType
from .rules import BURN_RATE_WINDOWS, SLO, Aggregation, AlertCondition, AlertRule

__all__ = ["to_prometheus_rules"]


def _duration(seconds: float) -> str:
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def _quote(text: str) -> str:
    return json.dumps(text)


def _matchers(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f"{k}={_quote(v)}" for k, v in sorted(labels.items())) + "}"


def _unit_suffix(unit: str) -> str:
    if not unit:
        return ""
    try:
        from opentelemetry.exporter.prometheus._mapping import map_unit

        return str(map_unit(unit))
    except ImportError:  # pragma: no cover - the prometheus extra is absent
        return unit


class _Names:
    """Family names as the OTel Prometheus exporter exposes them (unit and ``_total`` suffixes)."""

    def __init__(self, collector: MetricsCollector) -> None:
        self._families = {f.name: f for f in collector.families()}

    def kind(self, metric: str) -> MetricType | None:
        family = self._families.get(metric)
        return family.kind if family is not None else None

    def exposed(self, metric: str, default_kind: MetricType) -> str:
        family = self._families.get(metric)
        name = metric
        kind = default_kind
        if family is not None:
            kind = family.kind
            suffix = _unit_suffix(family.unit)
            if suffix and not name.endswith("_" + suffix):
                name = f"{name}_{suffix}"
        if kind is MetricType.COUNTER and not name.endswith("_total"):
            name += "_total"
        return name


def _rule_expr(rule: AlertRule, names: _Names) -> str:
    labels = rule.label_filter
    window = _duration(rule.window)
    condition = AlertCondition.parse(rule.condition)
    if rule.aggregation is Aggregation.VALUE:
        expr = f"sum({names.exposed(rule.metric, MetricType.GAUGE)}{_matchers(labels)})"
    elif rule.aggregation is Aggregation.RATE:
        expr = f"sum(rate({names.exposed(rule.metric, MetricType.COUNTER)}{_matchers(labels)}[{window}]))"
    elif rule.aggregation is Aggregation.RATIO:
        assert rule.denominator is not None
        num = f"sum(rate({names.exposed(rule.metric, MetricType.COUNTER)}{_matchers(labels)}[{window}]))"
        den = f"sum(rate({names.exposed(rule.denominator, MetricType.COUNTER)}{_matchers(labels)}[{window}]))"
        expr = f"({num} / {den})"
    elif names.kind(rule.metric) is MetricType.SUMMARY:
        key = f"p{rule.quantile * 100:.10g}".replace(".", "_")
        expr = f"max({names.exposed(rule.metric, MetricType.SUMMARY)}_{key}{_matchers(labels)})"
    else:
        base = names.exposed(rule.metric, MetricType.HISTOGRAM)
        expr = f"histogram_quantile({rule.quantile!r}, sum by (le) (rate({base}_bucket{_matchers(labels)}[{window}])))"
    return f"{expr} {condition.symbol} {rule.threshold!r}"


def _slo_ratio(slo: SLO, names: _Names, window: float) -> str:
    labels = dict(slo.labels or {})
    w = _duration(window)
    if slo.good is not None and slo.total is not None:
        good = f"sum(rate({names.exposed(slo.good, MetricType.COUNTER)}{_matchers(labels)}[{w}]))"
        total = f"sum(rate({names.exposed(slo.total, MetricType.COUNTER)}{_matchers(labels)}[{w}]))"
    else:
        assert slo.latency_metric is not None and slo.latency_threshold is not None
        base = names.exposed(slo.latency_metric, MetricType.HISTOGRAM)
        le = {**labels, "le": repr(float(slo.latency_threshold))}
        good = f"sum(rate({base}_bucket{_matchers(le)}[{w}]))"
        total = f"sum(rate({base}_count{_matchers(labels)}[{w}]))"
    return f"(1 - {good} / {total})"


def _alert_name(name: str) -> str:
    cleaned = re.sub(r"[^a-zA-Z0-9_:]", "_", name)
    return cleaned if re.match(r"[a-zA-Z_:]", cleaned) else f"alert_{cleaned}"


def _block(alert: str, expr: str, for_seconds: float, labels: dict[str, str], annotations: dict[str, str]) -> str:
    lines = [f"      - alert: {_quote(_alert_name(alert))}", f"        expr: {_quote(expr)}"]
    if for_seconds:
        lines.append(f"        for: {_duration(for_seconds)}")
    if labels:
        lines.append("        labels:")
        lines += [f"          {k}: {_quote(v)}" for k, v in sorted(labels.items())]
    if annotations:
        lines.append("        annotations:")
        lines += [f"          {k}: {_quote(v)}" for k, v in sorted(annotations.items())]
    return "\n".join(lines)


def to_prometheus_rules(
    rules: Iterable[AlertRule | SLO], collector: MetricsCollector | None = None, group: str = "rfs_otel"
) -> str:
    """Render rules and SLOs as a Prometheus alerting-rules file (passes ``promtool check rules``).

    ``collector`` (default: the process-wide one) tells each metric's kind and unit, so the PromQL
    names match what the Prometheus storage exposes.
    """
    names = _Names(collector or get_metrics_collector())
    blocks = []
    for rule in rules:
        if isinstance(rule, SLO):
            budget = repr(rule.error_budget)
            for suffix, long_w, short_w, burn, severity in BURN_RATE_WINDOWS:
                expr = (
                    f"{_slo_ratio(rule, names, long_w)} / {budget} > {burn!r} and "
                    f"{_slo_ratio(rule, names, short_w)} / {budget} > {burn!r}"
                )
                annotations = {"summary": rule.summary or f"SLO {rule.name} burning error budget {burn:g}x too fast"}
                if rule.description:
                    annotations["description"] = rule.description
                labels = {"severity": severity, "slo": rule.name, **dict(rule.labels or {})}
                blocks.append(_block(f"{rule.name}_burn_rate_{suffix}", expr, 0, labels, annotations))
        elif isinstance(rule, AlertRule):
            annotations = {k: v for k, v in (("summary", rule.summary), ("description", rule.description)) if v}
            blocks.append(
                _block(rule.name, _rule_expr(rule, names), rule.for_seconds, {"severity": rule.severity}, annotations)
            )
        else:
            raise TypeError(f"to_prometheus_rules takes AlertRule or SLO objects, got {rule!r}")
    body = "\n".join(blocks) if blocks else ""
    header = f"groups:\n  - name: {_quote(group)}\n    rules:"
    return f"{header}\n{body}\n" if blocks else f"{header} []\n"
