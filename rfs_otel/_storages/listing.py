"""The storages a collector is given: one, several, or none (a memory storage), checked."""

from __future__ import annotations

from collections.abc import Iterable

from .base import MetricsStorage
from .memory import MemoryMetricsStorage

__all__ = ["storage_list"]


def storage_list(storage: MetricsStorage | Iterable[MetricsStorage] | None) -> list[MetricsStorage]:
    """``storage=`` as a list: None gives one ``MemoryMetricsStorage``; anything but storages is refused."""
    if storage is None:
        return [MemoryMetricsStorage()]
    if isinstance(storage, MetricsStorage):
        return [storage]
    if isinstance(storage, (str, bytes)) or not isinstance(storage, Iterable):
        raise TypeError(f"storage must be a MetricsStorage or a list of them, got {storage!r}")
    items = list(storage)
    for item in items:
        if not isinstance(item, MetricsStorage):
            raise TypeError(f"storage must be a MetricsStorage or a list of them, got {item!r}")
    for index, item in enumerate(items):
        if any(other is item for other in items[:index]):
            raise ValueError(f"storage {item!r} is listed twice: give each storage once")
    return items
