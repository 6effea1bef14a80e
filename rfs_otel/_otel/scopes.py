"""Putting produced metrics into the collected ``MetricsData`` under their instrumentation scopes."""

from __future__ import annotations

from opentelemetry.sdk.metrics.export import Metric, MetricsData, ResourceMetrics, ScopeMetrics
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

__all__ = ["with_scopes"]


def _same(a: InstrumentationScope, b: InstrumentationScope) -> bool:
    return (a.name, a.version, a.schema_url) == (b.name, b.version, b.schema_url)


def with_scopes(
    data: MetricsData | None,
    scoped: dict[InstrumentationScope, list[Metric]],
    resource: Resource,
    pinned: Resource | None,
) -> MetricsData:
    """``data`` with ``scoped``'s metrics appended to the scope of the same name, version and schema URL (or a
    new one) of its first resource; ``resource`` when ``data`` is empty; ``pinned`` overrides the resource."""
    if data is None or not data.resource_metrics:
        made = [ScopeMetrics(scope, produced, scope.schema_url or "") for scope, produced in scoped.items()]
        return MetricsData([ResourceMetrics(resource, made, "")])
    first, *rest = data.resource_metrics
    scopes = list(first.scope_metrics)
    for own, produced in scoped.items():
        for i, scope_metrics in enumerate(scopes):
            if _same(scope_metrics.scope, own):
                merged = [*scope_metrics.metrics, *produced]
                scopes[i] = ScopeMetrics(scope_metrics.scope, merged, scope_metrics.schema_url)
                break
        else:
            scopes.append(ScopeMetrics(own, produced, own.schema_url or ""))
    return MetricsData([ResourceMetrics(pinned or first.resource, scopes, first.schema_url), *rest])
