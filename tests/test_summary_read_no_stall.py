"""A summary's owner thread never waits for a read: sealing a batch takes the hand-over lock only briefly, while
readers fold, release and answer under a lock of their own."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from rfs_otel import MetricsCollector
from rfs_otel._engine.sketch import WindowSketch
from rfs_otel._engine.window import FOLD


def test_observe_keeps_sealing_while_a_read_is_folding(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read stuck in the middle of folding (held here on an event) does not stop observe() from sealing."""
    folding, release = threading.Event(), threading.Event()
    fold = WindowSketch.fold

    def slow_fold(self: WindowSketch, *args: Any) -> None:
        folding.set()
        release.wait(10)
        fold(self, *args)

    with MetricsCollector() as collector:
        summary = collector.summary("work_seconds", max_samples=100_000)
        first, go, done = threading.Event(), threading.Event(), threading.Event()

        def owner() -> None:  # one thread, so the read and the later seals are on the same window
            for i in range(FOLD * 4):  # sealed batches for the read to fold
                summary.observe(float(i))
            first.set()
            go.wait(10)
            for i in range(FOLD * 8):  # several seals while the read is stuck folding this thread's batches
                summary.observe(float(i))
            done.set()

        recorder = threading.Thread(target=owner)
        recorder.start()
        assert first.wait(10)
        monkeypatch.setattr(WindowSketch, "fold", slow_fold)
        stats: dict[str, float] = {}
        reader = threading.Thread(target=lambda: stats.update(summary.get_statistics()))
        reader.start()
        try:
            assert folding.wait(10)
            go.set()
            assert done.wait(10), "observe() waited for the read"
        finally:
            release.set()
            reader.join(10)
            recorder.join(10)
        monkeypatch.setattr(WindowSketch, "fold", fold)
        assert FOLD * 4 <= stats["count"] <= FOLD * 12  # the window at some moment of the read
        assert summary.get_statistics()["count"] == FOLD * 12
