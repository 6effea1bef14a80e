"""Pre-fork multiprocess helpers (gunicorn ``child_exit`` hook): re-exports only."""

from rfs_otel._model.records import GAUGE_MODES
from rfs_otel.multiprocess._aggregate import mark_process_dead

__all__ = ["GAUGE_MODES", "mark_process_dead"]
