"""Pre-fork multiprocess mode without gunicorn: four forked workers, one exact total.

With gunicorn, create the collector the same way in your app module and call
rfs_otel.multiprocess.mark_process_dead(worker.pid, directory) from the child_exit hook.
"""

from __future__ import annotations

import os
import tempfile

from rfs_otel import MetricsCollector, PrometheusStorage


def main() -> None:
    directory = tempfile.mkdtemp(prefix="rfs_otel_mp_")
    storage = PrometheusStorage(scope_labels=False, target_info=False)
    collector = MetricsCollector(storage=storage, multiprocess_dir=directory)
    requests = collector.counter("worker_requests_total", "Requests handled by all workers")
    workers = collector.gauge("worker_up", "Workers alive", multiprocess_mode="sum")
    pids = []
    for worker in range(4):
        pid = os.fork()
        if pid == 0:  # a worker: records at full speed into its own memory-mapped file
            workers.set(1)
            for _ in range(2500 * (worker + 1)):
                requests.increment()
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    for line in storage.exposition().decode().splitlines():
        if line.startswith(("worker_requests_total", "worker_up")):
            print(line)  # 25,000 requests in total; the exited workers' gauges are gone
    print("state directory:", sorted(os.listdir(directory)))
    collector.shutdown()


if __name__ == "__main__":
    main()
