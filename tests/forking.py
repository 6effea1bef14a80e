"""What tests that fork worker processes share."""

from __future__ import annotations

import pytest

# These tests fork worker processes from a process where the library's background threads run (a pre-fork
# server's situation): Python 3.12+ warns about any such fork. The library replaces its locks and per-thread
# state in the child (os.register_at_fork; see docs/operations.md, "Fork safety"), which is what lets the
# children here record and export; the warning is expected.
FORK_WARNING = pytest.mark.filterwarnings("ignore:This process .*is multi-threaded:DeprecationWarning")
