"""``to_prometheus_rules``: the same alert rules and SLOs as a Prometheus alerting-rules YAML file."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from .._collector import MetricsCollector
from .._default import get_metrics_collector
from .._model.names import Exposure, exposed_names
from .._model.records import MetricType
from .._model.validation import prometheus_label
from .model import alert_annotations
from .rules import BURN_RATE_WINDOWS, SLO, Aggregation, AlertCondition, AlertRule
from .slo import burn_alert_annotations, burn_alert_labels, burn_alert_name

__all__ = ["to_prometheus_rules"]


def _duration(seconds: float) -> str:
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def _quote(text: str) -> str:
    return json.dumps(text)


def _matchers(labels: dict[str, str]) -> str:
    """A label selector with each key as the exporter writes it (``http.route`` -> ``http_route``)."""
    if not labels:
        return ""
    pairs = sorted((prometheus_label(k), v) for k, v in labels.items())
    return "{" + ",".join(f"{k}={_quote(v)}" for k, v in pairs) + "}"


class _Names:
    """Sample names as Prometheus exposes each family, from the one mapping the exposition's conflict checks use."""

    def __init__(self, collector: MetricsCollector) -> None:
        self._families = {f.name: f for f in collector.families()}

    def kind(self, metric: str) -> MetricType | None:
        family = self._families.get(metric)
        return family.kind if family is not None else None

    def _exposure(self, metric: str, default_kind: MetricType, quantiles: tuple[float, ...] = ()) -> Exposure:
        family = self._families.get(metric)
        kind, unit = (family.kind, family.unit) if family is not None else (default_kind, "")
        return exposed_names(metric, kind, [(metric, "")], unit, quantiles)

    def base(self, metric: str, default_kind: MetricType) -> str:
        """The family's name on the page, with its unit suffix: every sample name is it plus a suffix."""
        return _base(self._exposure(metric, default_kind))

    def value(self, metric: str, default_kind: MetricType) -> str:
        """The sample holding a counter's (``<base>_total``), gauge's (``<base>``) or histogram's count (``_count``)."""
        exposure = self._exposure(metric, default_kind)
        if exposure.kind is MetricType.COUNTER:
            return f"{_base(exposure)}_total"
        if exposure.kind is MetricType.HISTOGRAM:
            return f"{_base(exposure)}_count"
        return _base(exposure)

    def summary_quantile(self, metric: str, quantile: float) -> str:
        """The sample a summary exports for ``quantile``: ``<base>{quantile="q"}``, or the ``_pNN`` gauge."""
        family = self._families.get(metric)
        if family is None or family.summary_export == "summary":
            return f'{self.base(metric, MetricType.SUMMARY)}{{quantile="{float(quantile)!r}"}}'
        exposure = self._exposure(metric, MetricType.SUMMARY, (quantile,))
        [name] = [name for name, source in exposure.names.items() if source != metric]
        return name


def _base(exposure: Exposure) -> str:
    """The shortest exposed name: the family's own, which its other samples extend with a suffix."""
    return min(exposure.names, key=len)


def _grouped(rule: AlertRule, op: str, inner: str, keep: tuple[str, ...] = ()) -> str:
    """``inner`` aggregated as the rule's ``by=`` says: as is per series, ``op(...)`` or ``op by (keys) (...)``."""
    if rule.by is None:
        return inner
    keys = (*keep, *(prometheus_label(key) for key in rule.by))
    return f"{op} by ({', '.join(keys)}) ({inner})" if keys else f"{op}({inner})"


def _rule_expr(rule: AlertRule, names: _Names) -> str:
    labels = rule.label_filter
    window = _duration(rule.window)
    condition = AlertCondition.parse(rule.condition)
    if rule.aggregation is Aggregation.VALUE:
        expr = _grouped(rule, "sum", f"{names.value(rule.metric, MetricType.GAUGE)}{_matchers(labels)}")
    elif rule.aggregation is Aggregation.RATE:
        inner = f"rate({names.value(rule.metric, MetricType.COUNTER)}{_matchers(labels)}[{window}])"
        expr = _grouped(rule, "sum", inner)
    elif rule.aggregation is Aggregation.RATIO:
        assert rule.denominator is not None
        num = f"rate({names.value(rule.metric, MetricType.COUNTER)}{_matchers(labels)}[{window}])"
        den = f"rate({names.value(rule.denominator, MetricType.COUNTER)}{_matchers(labels)}[{window}])"
        expr = f"({_grouped(rule, 'sum', num)} / {_grouped(rule, 'sum', den)})"
    elif names.kind(rule.metric) is MetricType.SUMMARY:
        selector = names.summary_quantile(rule.metric, rule.quantile)
        if labels and selector.endswith("}"):  # one selector: the quantile and the rule's labels
            selector = selector[:-1] + "," + _matchers(labels)[1:]
        else:
            selector += _matchers(labels)
        expr = _grouped(rule, "max", selector)
    else:
        base = names.base(rule.metric, MetricType.HISTOGRAM)
        inner = f"rate({base}_bucket{_matchers(labels)}[{window}])"
        expr = f"histogram_quantile({rule.quantile!r}, {_grouped(rule, 'sum', inner, ('le',))})"
    return f"{expr} {condition.symbol} {rule.threshold!r}"


def _slo_ratio(slo: SLO, names: _Names, window: float) -> str:
    labels = dict(slo.labels or {})
    w = _duration(window)
    if slo.good is not None and slo.total is not None:
        good = f"sum(rate({names.value(slo.good, MetricType.COUNTER)}{_matchers(labels)}[{w}]))"
        total = f"sum(rate({names.value(slo.total, MetricType.COUNTER)}{_matchers(labels)}[{w}]))"
    else:
        assert slo.latency_metric is not None and slo.latency_threshold is not None
        base = names.base(slo.latency_metric, MetricType.HISTOGRAM)
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
            for window in BURN_RATE_WINDOWS:
                burn = repr(window.burn_rate)
                expr = (
                    f"{_slo_ratio(rule, names, window.long_window)} / {budget} > {burn} and "
                    f"{_slo_ratio(rule, names, window.short_window)} / {budget} > {burn}"
                )
                labels, notes = burn_alert_labels(rule, window), burn_alert_annotations(rule, window)
                blocks.append(_block(burn_alert_name(rule, window), expr, 0, labels, notes))
        elif isinstance(rule, AlertRule):
            notes = alert_annotations(rule.summary, rule.description)
            blocks.append(
                _block(rule.name, _rule_expr(rule, names), rule.for_seconds, {"severity": rule.severity}, notes)
            )
        else:
            raise TypeError(f"to_prometheus_rules takes AlertRule or SLO objects, got {rule!r}")
    body = "\n".join(blocks) if blocks else ""
    header = f"groups:\n  - name: {_quote(group)}\n    rules:"
    return f"{header}\n{body}\n" if blocks else f"{header} []\n"
