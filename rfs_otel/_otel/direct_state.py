"""The bridge's side of a direct Prometheus scrape: one collection a scrape can nest in, and families it leaves out.

A direct scrape (``prom_direct``) holds one collection while the OTel path collects inside it: the nested
collection must neither fold threads nor aggregate a multiprocess directory again, and must leave out the families
the scrape renders itself. Both are per thread, so other readers collecting meanwhile are unaffected.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .._engine.family import Family
from .._engine.source import Source
from .points import Stream

__all__ = ["DirectState", "as_is"]


def as_is(producer: Any, family: Family) -> bool:
    """Whether the provider's Views leave ``family`` one stream as it is (so it can be rendered directly)."""
    if getattr(family, "exponential", None) is not None:  # exponential histograms stay on the OTel path
        return False
    plain = (Stream(family.name, family.description, None),)
    scope = getattr(family, "scope", None)  # a collector.meter(...)'s, where families have scopes
    extra = {} if scope is None else {"scope": scope}
    return bool(producer.streams(family.name, family.unit, family.description, family.kind, **extra) == plain)


class DirectState:
    """Per-thread collection depth and left-out families of one bridge; binds the readers that render directly."""

    def __init__(self, bridge: Any, readers: Sequence[Any], families: list[Family]) -> None:
        self._local = threading.local()
        self._families = families  # the bridge's own list: families registered later are in it
        for reader in readers:  # a Prometheus reader that renders plain families itself (prom_direct)
            bind = getattr(reader, "bind_bridge", None)
            if bind is not None:
                bind(bridge)

    @contextlib.contextmanager
    def collection(self, reap: Callable[[], None], lock: Any, source: Source) -> Iterator[Source]:
        """Fold ended threads, hold ``lock`` and prepare ``source``, unless this thread is already collecting."""
        if getattr(self._local, "depth", 0):
            yield source
            return
        reap()
        with lock:
            source.begin()
            self._local.depth = 1
            try:
                yield source
            finally:
                self._local.depth = 0

    def families(self) -> list[Family]:
        """The bridge's registered families (a copy), in registration order."""
        return list(self._families)

    @contextlib.contextmanager
    def excluding(self, families: Sequence[Family]) -> Iterator[None]:
        """Within: this thread's collections leave ``families`` out (a direct scrape renders them itself)."""
        self._local.skip = {id(family) for family in families}
        try:
            yield
        finally:
            self._local.skip = set()

    def kept(self, families: list[Family]) -> list[Family]:
        """``families`` (a copy) without the ones this thread's direct scrape renders."""
        skip = getattr(self._local, "skip", None)
        return [f for f in families if id(f) not in skip] if skip else list(families)

    def skipping(self) -> bool:
        """Whether this thread's collection leaves families out (they still count: ``target_info`` is written)."""
        return bool(getattr(self._local, "skip", None))
