"""The public dashboard names, bound to the process-wide default collector.

``MetricsDashboard`` itself lives in the web layer (``PrometheusStorage`` builds and serves one); this top
layer, which may import ``_default``, installs ``get_metrics_collector`` as what ``MetricsDashboard()`` reads.
"""

from __future__ import annotations

from ._default import get_metrics_collector
from ._web.dashboard import DashboardNames, MetricsDashboard, use_default_source

__all__ = ["DashboardNames", "MetricsDashboard"]

use_default_source(get_metrics_collector)
