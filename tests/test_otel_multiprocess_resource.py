"""Multiprocess mode: every worker of one pre-fork server exports one resource (one service.instance.id)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from rfs_otel import MemoryMetricsStorage, MetricsCollector

from .forking import FORK_WARNING


def _instance_id(collector: MetricsCollector, storage: MemoryMetricsStorage) -> str:
    collector.counter("requests_total").increment()
    data = storage.collect()
    assert data is not None
    return str(data.resource_metrics[0].resource.attributes["service.instance.id"])


def _in_child(work: object, out: Path) -> int:
    """Fork; the child writes ``work()`` to ``out`` and exits (never returns into pytest)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.alarm(20)
            out.write_text(work())  # type: ignore[operator]
            code = 0
        finally:
            os._exit(code)
    return pid


def _wait(pid: int) -> None:
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@FORK_WARNING
def test_forked_workers_export_the_parents_instance_id(tmp_path: Path) -> None:
    """A collector created before the fork: the workers keep its service.instance.id (the SDK would draw anew)."""
    storage = MemoryMetricsStorage()
    collector = MetricsCollector(storage=storage, multiprocess_dir=tmp_path / "mp")
    parent = _instance_id(collector, storage)
    outs = [tmp_path / f"worker{i}" for i in range(2)]
    pids = [_in_child(lambda: _instance_id(collector, storage), out) for out in outs]
    for pid in pids:
        _wait(pid)
    assert [out.read_text() for out in outs] == [parent, parent]
    collector.shutdown()


@FORK_WARNING
def test_workers_creating_their_own_collectors_share_one_instance_id(tmp_path: Path) -> None:
    """Collectors created in each worker (no preload) on one directory export the same service.instance.id."""
    directory = tmp_path / "mp"

    def work() -> str:
        storage = MemoryMetricsStorage()
        with MetricsCollector(storage=storage, multiprocess_dir=directory) as collector:
            return _instance_id(collector, storage)

    outs = [tmp_path / f"worker{i}" for i in range(3)]
    pids = [_in_child(work, out) for out in outs]
    for pid in pids:
        _wait(pid)
    ids = {out.read_text() for out in outs}
    assert len(ids) == 1 and ids != {""}


def test_single_process_collectors_keep_their_own_instance_ids() -> None:
    """Outside multiprocess mode nothing is shared: the SDK's per-process id stays."""
    storage = MemoryMetricsStorage()
    with MetricsCollector(storage=storage) as collector:
        assert _instance_id(collector, storage)
