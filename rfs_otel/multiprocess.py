"""Pre-fork multiprocess helpers (gunicorn ``child_exit`` hook): re-exports only."""

from rfs_otel._multiprocess import GAUGE_MODES, mark_process_dead

__all__ = ["GAUGE_MODES", "mark_process_dead"]
