"""Running blocking work off an asyncio event loop in a daemon thread, with a deadline the loop never overruns."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import asyncio

__all__ = ["in_daemon_thread"]

T = TypeVar("T")


async def in_daemon_thread(work: Callable[[], T], timeout: float, name: str) -> tuple[bool, T | None]:
    """``(True, work())`` if ``work`` finishes within ``timeout`` seconds, else ``(False, None)``.

    ``work`` runs in a daemon thread, so a call that hangs never holds up the loop or the interpreter's exit;
    after a timeout it finishes there and its result is dropped.
    """
    import asyncio  # only here: importing rfs_otel does not import asyncio

    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T) -> None:
        if not done.done():
            done.set_result(result)

    def run() -> None:
        result = work()
        with contextlib.suppress(RuntimeError):  # the loop may be gone by then
            loop.call_soon_threadsafe(settle, result)

    threading.Thread(target=run, name=name, daemon=True).start()
    try:
        return True, await asyncio.wait_for(asyncio.shield(done), timeout)
    except asyncio.TimeoutError:
        return False, None
