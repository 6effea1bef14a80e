"""Never hurt the host: a fork waits for imports in flight only where waiting can help, and only once per import.

A fork waits (within FORK_LOCK_BUDGET) for other threads' imports so that its child can import those modules.
That wait is pointless, and only delays the fork, when the import cannot end before the fork does: a thread
nested deep in a long import a fork already gave up on, a thread waiting in the import system for the forking
thread's own import, a thread that is forking itself. And it is futile if another library's fork hook already
holds a lock the import needs, as ``concurrent.futures``' does when it runs first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
import types
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rfs_otel import MetricsCollector
from rfs_otel._util.fork import FORK_LOCK_BUDGET
from rfs_otel._util.imports import held_elsewhere

from .forking import fork_child

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    pytest.mark.filterwarnings("ignore:This process .*is multi-threaded:DeprecationWarning"),
]

QUICK = FORK_LOCK_BUDGET / 2  # a fork that did not wait the budget


@pytest.fixture
def gate() -> Iterator[types.SimpleNamespace]:
    """A module the test's modules import to meet the test (``_rfs_hfork_gate``), with a stop event set at the end."""
    namespace = types.SimpleNamespace(stop=threading.Event(), fork=fork_child, out=[])
    sys.modules["_rfs_hfork_gate"] = namespace  # type: ignore[assignment]
    yield namespace
    namespace.stop.set()
    del sys.modules["_rfs_hfork_gate"]


def _wait_until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.001)


def _start_import(name: str) -> threading.Thread:
    thread = threading.Thread(target=__import__, args=(name,), daemon=True)
    thread.start()
    return thread


def _waits_in_import_system_for(tid: int, owner: int) -> bool:
    """True when thread ``tid`` waits for a module lock ``owner`` holds (``_blocking_on``: 3.10 a lock, 3.12+ list)."""
    table: Any = sys.modules["importlib._bootstrap"]._blocking_on
    entry = getattr(table, "data", table).get(tid)
    entry = entry() if callable(entry) else entry
    return any(getattr(lock, "owner", None) == owner for lock in (entry if isinstance(entry, list) else [entry]))


def test_forks_during_a_long_package_import_wait_for_it_once_not_each(
    module_dir: Path, gate: types.SimpleNamespace
) -> None:
    """A package importing submodule after submodule for seconds delays the first fork by the budget, not each."""
    package = module_dir / "_rfs_hfork_pkg"
    package.mkdir()
    modules = 400
    (package / "__init__.py").write_text(
        "import importlib\nimport _rfs_hfork_gate as gate\n"
        f"for i in range({modules}):\n"
        "    if gate.stop.is_set():\n        break\n"
        "    importlib.import_module(f'_rfs_hfork_pkg.m{i}')\n"
    )
    for i in range(modules):
        (package / f"m{i}.py").write_text("import time\ntime.sleep(0.005)\n")
    with MetricsCollector():
        thread = _start_import("_rfs_hfork_pkg")
        _wait_until(lambda: "_rfs_hfork_pkg" in held_elsewhere(), "the package never started importing")
        forks = [fork_child() for _ in range(3)]
        gate.stop.set()
        thread.join(timeout=10)
    assert [status for status, _ in forks] == [0, 0, 0]
    assert forks[0][1] >= FORK_LOCK_BUDGET * 0.9
    assert [seconds < QUICK for _, seconds in forks[1:]] == [True, True], forks  # was the whole budget each


def test_a_thread_deep_in_an_import_given_up_on_is_still_waited_for_the_imports_it_was_in_at_the_fork(
    module_dir: Path, gate: types.SimpleNamespace
) -> None:
    """A module whose top level serves forever still has its lazy imports waited for: those in flight at a fork."""
    gate.first, gate.inside = threading.Event(), threading.Event()
    (module_dir / "_rfs_hfork_lazy.py").write_text(
        "import time\nimport _rfs_hfork_gate as gate\ngate.inside.set()\ntime.sleep(0.1)\nVALUE = 42\n"
    )
    (module_dir / "_rfs_hfork_forever.py").write_text(
        "import _rfs_hfork_gate as gate\ngate.first.wait(10)\nimport _rfs_hfork_lazy\ngate.stop.wait(10)\n"
    )

    def child() -> bool:
        import _rfs_hfork_lazy  # type: ignore[import-not-found]

        return bool(_rfs_hfork_lazy.VALUE == 42)

    with MetricsCollector():
        thread = _start_import("_rfs_hfork_forever")
        _wait_until(lambda: "_rfs_hfork_forever" in held_elsewhere(), "the module never started importing")
        first = fork_child()  # waits the budget, then gives the import up
        gate.first.set()
        gate.inside.wait(10)
        second = fork_child(child)
        gate.stop.set()
        thread.join(timeout=10)
    assert first[0] == 0
    assert second[0] == 0  # -14 if the fork skipped every import of that thread: the child hung on the lazy one


def test_an_import_given_up_on_that_ended_does_not_stand_for_the_next_one_at_its_lock_address() -> None:
    """Imports are told apart by name too: the next module's lock often gets the address of the one before.

    The reuse is made certain here: one real module lock of the import system, taken by a thread for module A
    (given up on by a fork), released, then taken again by the same thread for module B, as importlib would.
    """
    bootstrap: Any = sys.modules["importlib._bootstrap"]
    lock = bootstrap._ModuleLock("_rfs_hfork_a")
    taken, release, done = threading.Event(), threading.Event(), threading.Event()

    def hold(name: str) -> None:
        lock.name = name
        bootstrap._module_locks[name] = weakref.ref(lock)
        lock.acquire()
        taken.set()
        release.wait(10)
        lock.release()
        del bootstrap._module_locks[name]

    def importer() -> None:
        hold("_rfs_hfork_a")
        release.clear()
        hold("_rfs_hfork_b")
        done.set()

    with MetricsCollector():
        thread = threading.Thread(target=importer, daemon=True)
        thread.start()
        taken.wait(10)
        fork_child()  # waits the budget for A, then gives it up
        taken.clear()
        release.set()
        _wait_until(lambda: "_rfs_hfork_b" in held_elsewhere(), "B was never taken")
        timer = threading.Timer(0.2, release.set)  # B ends 0.2 s from now
        timer.start()
        status, seconds = fork_child()
        thread.join(timeout=10)
    assert status == 0
    assert done.is_set()
    assert seconds >= 0.15  # was ~0: B, at A's lock address, was taken for A and not waited for


def test_a_fork_inside_an_import_does_not_wait_for_a_thread_waiting_on_that_import(
    module_dir: Path, gate: types.SimpleNamespace
) -> None:
    """A thread importing a module that imports the forking thread's module cannot finish first: no wait."""
    gate.waiting = threading.Event()
    (module_dir / "_rfs_hfork_b.py").write_text(
        "import _rfs_hfork_gate as gate\ngate.waiting.set()\nimport _rfs_hfork_a\n"
    )
    (module_dir / "_rfs_hfork_a.py").write_text(
        textwrap.dedent(
            """
            import threading
            import _rfs_hfork_gate as gate
            other = threading.Thread(target=__import__, args=("_rfs_hfork_b",), daemon=True)
            other.start()
            gate.waiting.wait(10)
            gate.until(lambda: gate.blocked(other.ident, threading.get_ident()), "B never waited for A")
            gate.out.append(gate.fork())
            gate.other = other
            """
        )
    )
    gate.until, gate.blocked = _wait_until, _waits_in_import_system_for
    with MetricsCollector():
        forking = _start_import("_rfs_hfork_a")
        forking.join(timeout=10)
        gate.other.join(timeout=10)
    [(status, seconds)] = gate.out
    assert status == 0
    assert seconds < QUICK  # was FORK_LOCK_BUDGET: the wait for B, which waited for A


def _two_forkers_inside_imports(module_dir: Path, gate: types.SimpleNamespace, child: Callable[[], bool]) -> None:
    """Two threads fork at the same moment, each from inside its own import; ``gate.out`` gets both results."""
    gate.barrier = threading.Barrier(2)
    gate.child = child
    for name in ("_rfs_hfork_x", "_rfs_hfork_y"):
        (module_dir / f"{name}.py").write_text(
            "import _rfs_hfork_gate as gate\ngate.barrier.wait(10)\ngate.out.append(gate.fork(gate.child))\n"
        )
    with MetricsCollector():
        threads = [_start_import("_rfs_hfork_x"), _start_import("_rfs_hfork_y")]
        for thread in threads:
            thread.join(timeout=10)


def test_two_threads_forking_inside_imports_do_not_wait_for_each_other(
    module_dir: Path, gate: types.SimpleNamespace
) -> None:
    """A thread that is forking finishes its import only after its fork: another fork does not wait for it."""
    _two_forkers_inside_imports(module_dir, gate, lambda: True)
    assert sorted(status for status, _ in gate.out) == [0, 0]
    assert [seconds < QUICK for _, seconds in gate.out] == [True, True], gate.out  # were the whole budget each


def test_a_child_forking_again_does_not_wait_for_imports_its_parent_was_in(
    module_dir: Path, gate: types.SimpleNamespace
) -> None:
    """In a child, the other threads' imports never end: a grandchild's fork does not wait for them."""

    def child() -> bool:
        status, seconds = fork_child()
        return status == 0 and seconds < QUICK  # was FORK_LOCK_BUDGET: the wait for the other forker's import

    _two_forkers_inside_imports(module_dir, gate, child)
    assert sorted(status for status, _ in gate.out) == [0, 0]


def test_an_import_that_submits_to_a_thread_pool_finishes_before_the_fork(tmp_path: Path) -> None:
    """The import wait runs before concurrent.futures' fork hook takes its lock, so such an import can finish.

    A fresh interpreter, as a service has: OTel's ``Resource.create()`` imports ``concurrent.futures.thread`` when
    the first collector is built, after rfs_otel registered its fork hooks, so its hook would run first.
    """
    (tmp_path / "_rfs_hfork_pool.py").write_text(
        "from concurrent.futures import ThreadPoolExecutor\nimport gate\ngate.inside.set()\ngate.go.wait(10)\n"
        "with ThreadPoolExecutor(1) as pool:\n    VALUE = pool.submit(int, '7').result()\n"
    )
    script = textwrap.dedent(
        f"""
        import os, signal, sys, threading, time, types
        sys.path.insert(0, {str(tmp_path)!r})
        from rfs_otel import MetricsCollector
        collector = MetricsCollector()
        sys.modules["gate"] = types.SimpleNamespace(inside=threading.Event(), go=threading.Event())
        import gate
        threading.Thread(target=__import__, args=("_rfs_hfork_pool",), daemon=True).start()
        gate.inside.wait(10)
        gate.go.set()
        pid = os.fork()  # the importing thread needs the GIL to go on: it gets it only once the fork hooks wait
        if pid == 0:
            signal.alarm(5)
            import _rfs_hfork_pool
            os._exit(0 if _rfs_hfork_pool.VALUE == 7 else 3)
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "0", result.stderr  # was -14: the child waited forever on the half import


def _first_use_imports(script: str) -> str:
    """Run ``script`` in a fresh interpreter (nothing imported yet by earlier tests); what it prints."""
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_a_plain_callback_notifiers_first_alert_imports_nothing() -> None:
    """The alert loop's thread does not import asyncio (30 modules) to call a plain function for the first alert."""
    printed = _first_use_imports(
        """
        import sys
        from rfs_otel import AlertManager, AlertRule, MetricsCollector
        collector = MetricsCollector()
        collector.gauge("queue_depth").set(50)
        fired = []
        manager = AlertManager(collector, [AlertRule("deep", "queue_depth", ">", 10)], notifiers=[fired.append])
        before = set(sys.modules)
        manager.evaluate_once()
        print(len(fired), sorted(set(sys.modules) - before))
        """
    )
    assert printed == "1 []"  # was asyncio and its submodules


def test_a_first_webhook_delivery_to_a_hostile_peer_imports_nothing() -> None:
    """Neither the host name lookup (idna codec) nor escaping the peer's control characters imports a codec."""
    printed = _first_use_imports(
        """
        import socket, sys, threading
        from rfs_otel import AlertManager, AlertRule, MetricsCollector
        from rfs_otel._alerting.notifiers import WebhookNotifier
        listener = socket.create_server(("127.0.0.1", 0))
        def answer():
            connection, _ = listener.accept()
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 500 Boom\\x1b[31m\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n")
            connection.close()
        threading.Thread(target=answer, daemon=True).start()
        collector = MetricsCollector()
        collector.gauge("queue_depth").set(50)
        url = "http://127.0.0.1:%d/hook" % listener.getsockname()[1]
        manager = AlertManager(
            collector, [AlertRule("deep", "queue_depth", ">", 10)], notifiers=[WebhookNotifier(url, retries=0)]
        )
        before = set(sys.modules)
        manager.evaluate_once()
        print(sorted(set(sys.modules) - before))
        from rfs_otel._util.http import printable
        print(printable("Boom\\x1b[31m\\u2028"))
        """
    )
    assert printed.splitlines() == ["[]", "Boom\\x1b[31m\\u2028"]  # was encodings.idna, unicode_escape, ...


def test_a_multiprocess_collector_writes_its_instance_id_without_a_codec_lookup(tmp_path: Path) -> None:
    """The shared ``service.instance.id`` file is written as bytes: a text file's codec lookup imported a module."""
    printed = _first_use_imports(
        f"""
        import sys
        import rfs_otel.multiprocess._series, rfs_otel.multiprocess._source  # what pre-fork mode imports anyway
        from rfs_otel import MetricsCollector
        before = set(sys.modules)
        collector = MetricsCollector(multiprocess_dir={str(tmp_path)!r})
        collector.gauge("depth").set(1, labels={{"queue": "a"}})
        removed = collector.remove("depth", {{"queue": "a"}})
        print(removed, sorted(set(sys.modules) - before))
        """
    )
    assert printed == "True []"  # was encodings.ascii (write_text(..., encoding="ascii"))
