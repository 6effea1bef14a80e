"""The package's registered entry points, loaded the way installers and tools find them (not via private modules)."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any


def load(group: str, name: str) -> Any:
    """The object entry point ``name`` of ``group`` names; fails if the installed metadata lacks it."""
    found = [ep for ep in entry_points(group=group) if ep.name == name]
    assert len(found) == 1, f"expected one {group} entry point named {name!r}, found {found}"
    return found[0].load()


#: ``rfs-otel ARGS`` as a function: ``cli_main(["snapshot", url])`` returns the exit code.
cli_main = load("console_scripts", "rfs-otel")

#: The class ``opentelemetry-instrument`` loads.
RfsOtelInstrumentor = load("opentelemetry_instrumentor", "rfs_otel")
