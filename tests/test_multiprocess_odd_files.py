"""Odd things where a multiprocess directory's files belong (a FIFO, a device, a huge file, a dead writer's
temporary) never hang, exhaust memory or raise: they are skipped, counted, and the readable values stay exact."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rfs_otel import MetricsCollector, PrometheusStorage

#: Each case runs in a child with a 1 GiB address-space limit and a 20 s timeout: a hang or an unbounded read
#: is a failure, never a stuck or swapped-out test run.
CHILD = textwrap.dedent(
    """
    import os, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))
    from rfs_otel import MetricsCollector, PrometheusStorage
    directory, odd, kind = sys.argv[1], sys.argv[2], sys.argv[3]
    storage = PrometheusStorage()
    collector = MetricsCollector(storage=storage, multiprocess_dir=directory)
    collector.counter("req_total").increment(7)
    path = os.path.join(directory, odd)
    if kind == "zero":
        os.symlink("/dev/zero", path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "huge":
        with open(path, "wb") as handle:
            handle.truncate(300 * 2**20)  # sparse: costs no disk, but 300 MiB to read
    text = storage.exposition().decode()
    print([line for line in text.splitlines() if line.startswith("req_total")])
    print(collector.get_sample_value("req_total"))
    collector.shutdown()
    """
)


@pytest.mark.parametrize("odd", ["99994.meta.jsonl", "archive.json"])
@pytest.mark.parametrize("kind", ["zero", "fifo", "huge"])
def test_an_odd_file_is_skipped_quickly_and_the_rest_stays_exact(tmp_path: Path, odd: str, kind: str) -> None:
    """/dev/zero, a FIFO or a 300 MiB file as a meta file or the archive: the scrape answers at once with 7."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), odd, kind],
        capture_output=True,
        text=True,
        timeout=20,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines, value = proc.stdout.strip().splitlines()
    assert lines.endswith(" 7.0']") and value == "7.0"


def test_a_dead_writers_archive_temporary_is_removed(tmp_path: Path) -> None:
    """A worker SIGKILLed while writing the archive leaves ``.archive.json.<pid>.tmp``: the next fold removes it."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)  # a pid that is certainly not alive any more
    stale = tmp_path / f".archive.json.{pid}.tmp"
    stale.write_text('{"folded": [], "ser')
    with MetricsCollector(multiprocess_dir=tmp_path) as collector:
        collector.counter("req_total").increment()
        child = os.fork()
        if child == 0:
            collector.counter("req_total").increment()
            os._exit(0)
        os.waitpid(child, 0)
        collector.snapshot()  # folds the exited child into the archive
        assert collector.get_sample_value("req_total") == 2
    assert not stale.exists()


@pytest.mark.parametrize("kind", ["fifo", "junk"])
def test_an_odd_instance_id_file_never_stops_the_collector(tmp_path: Path, kind: str) -> None:
    """A FIFO or junk where the shared service.instance.id belongs: the collector starts and exports anyway."""
    path = tmp_path / ".service-instance-id"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.write_bytes(b"\x00\xff" * 500)
    storage = PrometheusStorage()
    with MetricsCollector(storage=storage, multiprocess_dir=tmp_path) as collector:
        collector.counter("req_total").increment(3)
        text = storage.exposition().decode()
        assert collector.get_sample_value("req_total") == 3
    assert "target_info" in text
