"""Every Python code block in README.md and docs/ runs as written, in a fresh interpreter.

A block that is only a fragment (a signature listing, a piece of a larger program) says so with an
``<!-- fragment -->`` line right above it (invisible on the rendered page) and is not run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)```", re.S)
_FRAGMENT = "<!-- fragment -->"


def _blocks() -> list[tuple[str, str, bool]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(text):
            line = text[: match.start("code")].count("\n")
            found.append((f"{page.name}:{line}", match["code"], match["before"].strip() == _FRAGMENT))
    return found


BLOCKS = [(where, code) for where, code, fragment in _blocks() if not fragment]


def test_the_pages_have_code_blocks() -> None:
    """The extraction finds the pages' blocks (a broken pattern would silently test nothing)."""
    assert len(BLOCKS) >= 15
    assert any(where.startswith("README.md") for where, _ in BLOCKS)


def test_fragment_markers_stand_right_above_a_python_block() -> None:
    """A fragment marker anywhere else would be a typo that silently turns a block into a runnable one."""
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if line.strip() == _FRAGMENT:
                assert i + 1 < len(lines) and lines[i + 1] == "```python", f"{page.name}:{i + 1}"


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_code_block_runs(where: str, code: str, tmp_path: Path) -> None:
    """The block runs to completion in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, f"{where} failed:\n{proc.stderr[-2000:]}"
