"""Start the fleet and write what one Prometheus needs to watch it: file_sd targets, alerting rules, config.

``run_fleet(folder)`` starts the three apps on free 127.0.0.1 ports and yields ``{job: "host:port"}``;
``write_targets`` writes the file_sd file, ``write_rules`` the rules ``to_prometheus_rules`` renders for
``ERROR_RULE``, and ``prometheus_config`` a config that reads both.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

from rfs_otel import AlertRule, MetricsCollector, to_prometheus_rules

HERE = Path(__file__).resolve().parent

#: One alert per instance and route answering more than 2 errors (5xx) a second over 10 s.
ERROR_RULE = AlertRule(
    "FleetInstanceErrors",
    "http.server.request.duration",
    ">",
    2.0,
    aggregation="rate",
    window=10,
    labels={"http.response.status_code": "500"},
    severity="page",
    summary="An instance answers more than 2 errors a second",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _commands(port: int) -> dict[str, list[str]]:
    """The server command line of each job (run from this folder, so the app modules import by name)."""
    bind = ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return {
        "shop-fastapi": [sys.executable, "-m", "uvicorn", "fastapi_app:app", *bind],
        "shop-flask": [sys.executable, "-m", "gunicorn", "flask_app:app", "--workers", "2",
                       "--bind", f"127.0.0.1:{port}", "--config", "python:gunicorn_conf", "--log-level", "warning"],
        "shop-django": [sys.executable, "-m", "uvicorn", "django_app:application", *bind],
    }  # fmt: skip


def _wait(url: str, deadline: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer: {log.read_text()[-2000:]}") from None
            time.sleep(0.05)


@contextmanager
def _server(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=HERE, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def run_fleet(folder: Path, timeout: float = 40.0) -> Iterator[dict[str, str]]:
    """Start the three apps (logs and the Flask metrics directory in ``folder``); yield ``{job: "host:port"}``."""
    metrics_dir = folder / "flask-metrics"
    metrics_dir.mkdir()
    paths = [str(HERE), str(HERE.parent.parent), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "FLEET_METRICS_DIR": str(metrics_dir), "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    with ExitStack() as stack:
        started = {}
        for job in _commands(0):
            port = _free_port()
            log = folder / f"{job}.log"
            started[job] = (f"127.0.0.1:{port}", stack.enter_context(_server(_commands(port)[job], env, log)), log)
        deadline = time.monotonic() + timeout
        for address, proc, log in started.values():
            _wait(f"http://{address}/metrics", deadline, proc, log)
        yield {job: address for job, (address, _, _) in started.items()}


def write_targets(path: Path, targets: dict[str, str]) -> None:
    """The file_sd file: one target group per job. Written whole and renamed, as Prometheus re-reads it live."""
    groups = [{"targets": [address], "labels": {"job": job}} for job, address in sorted(targets.items())]
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(groups, indent=2))
    partial.replace(path)


def write_rules(path: Path) -> None:
    """Prometheus rules for ``ERROR_RULE``; the collector only tells the metric's kind and unit."""
    with MetricsCollector() as collector:
        collector.histogram("http.server.request.duration", unit="s")
        path.write_text(to_prometheus_rules([ERROR_RULE], collector, group="shop-fleet"))


def prometheus_config(targets: Path, rules: Path, alertmanager: str | None = None, interval: str = "1s") -> str:
    """A Prometheus config scraping every file_sd target and evaluating ``rules`` each ``interval``."""
    text = (
        f"global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n"
        f"rule_files: [{json.dumps(str(rules))}]\n"
        "scrape_configs:\n  - job_name: shop\n    file_sd_configs:\n"
        f"      - files: [{json.dumps(str(targets))}]\n        refresh_interval: {interval}\n"
    )
    if alertmanager is not None:
        text += f"alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [{json.dumps(alertmanager)}]\n"
    return text


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)


def drive(address: str, orders: int, failures: int, threads: int = 8) -> Counter[tuple[str, int]]:
    """Send ``orders`` GET /orders/<n> and ``failures`` GET /fail; count the answers by (path, status)."""
    paths = [f"/orders/{n}" for n in range(orders)] + ["/fail"] * failures
    with ThreadPoolExecutor(threads) as pool:
        statuses = list(pool.map(lambda p: _get(f"http://{address}{p}"), paths))
    return Counter(("/fail" if p == "/fail" else "/orders", s) for p, s in zip(paths, statuses))
