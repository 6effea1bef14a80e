"""Lazy imports of optional packages, naming the pip extra that brings them."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise ImportError telling which ``rfs-otel[extra]`` to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{module} is not installed; it comes with the {extra!r} extra: pip install 'rfs-otel[{extra}]'"
        ) from exc
