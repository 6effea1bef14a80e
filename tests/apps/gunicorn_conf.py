"""gunicorn settings for the pre-fork test: exited workers are folded into the archive at once."""

from __future__ import annotations

import os
from typing import Any

from rfs_otel.multiprocess import mark_process_dead


def child_exit(server: Any, worker: Any) -> None:
    mark_process_dead(worker.pid, os.environ["RFS_OTEL_TEST_MP_DIR"])
