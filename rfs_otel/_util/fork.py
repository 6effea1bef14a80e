"""Fork hooks that do not keep their owner alive."""

from __future__ import annotations

import os
import weakref

__all__ = ["after_fork_in_child"]


def after_fork_in_child(owner: object, method: str) -> None:
    """Call ``owner.<method>()`` in every forked child for as long as ``owner`` exists."""
    if not hasattr(os, "register_at_fork"):
        return
    ref = weakref.ref(owner)

    def hook() -> None:
        alive = ref()
        if alive is not None:
            getattr(alive, method)()

    os.register_at_fork(after_in_child=hook)
