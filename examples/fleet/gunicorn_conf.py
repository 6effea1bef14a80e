"""gunicorn settings for ``flask_app``: a worker that exits is folded into the metrics archive at once."""

from __future__ import annotations

import os
from typing import Any

from rfs_otel.multiprocess import mark_process_dead


def child_exit(server: Any, worker: Any) -> None:
    mark_process_dead(worker.pid, os.environ.get("FLEET_METRICS_DIR", "fleet-metrics"))
