"""The package's layers hold: no import circles (TYPE_CHECKING and function-level imports included), and each
layer imports only layers below it. See docs/architecture.md."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "rfs_otel"

#: Lower rank = lower layer. A module may import modules of a lower rank or of its own component.
RANKS: dict[str, int] = {
    "_version": 0,
    "_errors": 0,
    "_result": 0,
    "_util": 1,
    "_model": 2,
    "_engine": 3,
    "_otel": 4,
    "multiprocess": 5,
    "_web": 6,
    "_storages": 7,
    "_collector": 8,
    "_default": 9,
    "testing": 10,
    "_decorators": 10,
    "_middleware": 10,
    "_instrumentor": 11,
    "_alerting": 11,
    "_dashboard": 12,
    "_cli": 13,
    "asgi": 14,  # the HTTP middleware: public import paths, above everything they use
    "wsgi": 14,
    "instrumentor": 14,  # the public import path of the instrumentor (extra `instrumentation`)
    "django": 14,
    "monitoring": 16,  # compatibility paths: re-export the package
    "core": 16,
    "__init__": 15,
    "__main__": 16,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every rfs_otel module ``path`` imports, anywhere in the file."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "rfs_otel":
                continue
            found.add(target)
            for alias in node.names:  # ``from . import x`` names a submodule
                candidate = f"{target}.{alias.name}"
                if _path_of(candidate) is not None:
                    found.add(candidate)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "rfs_otel")
    found.discard(module)
    return {m for m in found if _path_of(m) is not None}


def _path_of(module: str) -> Path | None:
    base = PACKAGE.parent.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def _component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_component_has_a_rank() -> None:
    """Each top-level module or sub-package of rfs_otel is placed in a layer."""
    assert {_component(m) for m in _graph()} <= set(RANKS) | {"__main__"}


def test_no_import_cycles() -> None:
    """No module reaches itself through imports, whatever kind of import statement."""
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_layers_import_only_downwards() -> None:
    """A module imports only its own component or lower layers."""
    upward = []
    for module, targets in _graph().items():
        mine = _component(module)
        for target in targets:
            theirs = _component(target)
            if theirs != mine and RANKS[theirs] >= RANKS[mine]:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_util_imports_nothing_else_from_the_package() -> None:
    """rfs_otel._util is the floor: it imports no other rfs_otel module."""
    graph = _graph()
    for module, targets in graph.items():
        if _component(module) == "_util":
            assert {t for t in targets if _component(t) != "_util"} == set(), module


def test_no_module_is_over_400_lines() -> None:
    """Modules stay small enough to read in one sitting."""
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 400} == {}
