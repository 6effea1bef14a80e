"""Running an evaluator every ``interval`` seconds: in a daemon thread, or as a task on an asyncio loop."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

__all__ = ["Periodic"]

_log = logging.getLogger("rfs_otel.alerts")


class Periodic(ABC):
    """Calls ``evaluate_once`` (thread) or ``aevaluate_once`` (event loop) every ``interval`` until ``stop()``."""

    interval: float

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = threading.Event()

    @abstractmethod
    def evaluate_once(self) -> Any:
        """One synchronous evaluation."""

    @abstractmethod
    async def aevaluate_once(self) -> Any:
        """One evaluation on the event loop."""

    def start(self) -> None:
        """Evaluate every ``interval`` seconds in a daemon thread until ``stop()``."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run_thread, name="rfs-otel-alerts", daemon=True)
        self._thread.start()

    def _run_thread(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.evaluate_once()
            except Exception:  # never let the loop die
                _log.exception("alert evaluation failed")

    def start_async(self) -> asyncio.Task[None]:
        """Evaluate every ``interval`` seconds as a task on the running event loop until ``stop()``."""
        import asyncio  # only here: importing rfs_otel does not import asyncio

        if self._task is not None and not self._task.done():
            return self._task
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(self._run_task())
        return self._task

    async def _run_task(self) -> None:
        import asyncio  # only here: importing rfs_otel does not import asyncio

        while not self._stop.is_set():
            await asyncio.sleep(self.interval)
            if self._stop.is_set():
                break
            try:
                await self.aevaluate_once()
            except Exception:
                _log.exception("alert evaluation failed")

    def stop(self) -> None:
        """Stop the background thread or task; idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)
            self._thread = None
        if self._task is not None:
            self._task.cancel()
            self._task = None
