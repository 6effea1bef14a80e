"""Real Prometheus-ecosystem servers for tests: started on 127.0.0.1 with a free port, stopped after.

Locally a missing binary skips the test; with RFS_OTEL_REQUIRE_SERVERS=1 (set by .ci/run) it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


def listens_only_on_loopback(port: int) -> bool:
    """Whether a server on ``port`` answers at 127.0.0.1 and refuses 127.0.0.2: bound to loopback, not to all."""
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    try:
        with socket.create_connection(("127.0.0.2", port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


def binary(name: str) -> str:
    """Path of a server binary, or skip/fail as the environment demands."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian: apt-get install {name.replace('promtool', 'prometheus')})"
        if os.environ.get("RFS_OTEL_REQUIRE_SERVERS") == "1":
            pytest.fail(message + "; RFS_OTEL_REQUIRE_SERVERS=1 makes this a failure")
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout} s") from None
            time.sleep(0.1)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@contextmanager
def _process(args: list[str], ready_url: str, log: Path) -> Iterator[None]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:
            try:
                wait_http(ready_url)
            except TimeoutError:
                proc.terminate()
                raise RuntimeError(f"{args[0]} did not start: {log.read_text()[-2000:]}") from None
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def pushgateway(tmp_path: Path, port: int | None = None) -> Iterator[str]:
    """A Pushgateway (on ``port`` or a free one); yields its base URL."""
    exe = binary("prometheus-pushgateway")
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    args = [exe, f"--web.listen-address=127.0.0.1:{port}", f"--persistence.file={tmp_path / 'pgw.data'}"]
    with _process(args, f"{url}/-/ready", tmp_path / "pushgateway.log"):
        yield url


@contextmanager
def prometheus(
    tmp_path: Path, scrape_target: str, metrics_path: str = "/metrics", features: tuple[str, ...] = ()
) -> Iterator[str]:
    """A Prometheus scraping ``host:port`` every second (``features``: ``--enable-feature`` names); yields its URL."""
    exe = binary("prometheus")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: rfs_otel_test\n"
        f"    metrics_path: {metrics_path}\n    static_configs:\n      - targets: ['{scrape_target}']\n"
    )
    url = f"http://127.0.0.1:{port}"
    args = [
        exe,
        f"--config.file={config}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        *(f"--enable-feature={feature}" for feature in features),
    ]
    with _process(args, f"{url}/-/ready", tmp_path / "prometheus.log"):
        yield url


@contextmanager
def prometheus_with_config(tmp_path: Path, config: str) -> Iterator[str]:
    """A Prometheus running ``config`` (YAML text); yields its base URL."""
    exe = binary("prometheus")
    port = free_port()
    path = tmp_path / "prometheus.yml"
    path.write_text(config)
    url = f"http://127.0.0.1:{port}"
    args = [exe, f"--config.file={path}", f"--web.listen-address=127.0.0.1:{port}"]
    args.append(f"--storage.tsdb.path={tmp_path / 'tsdb'}")
    with _process(args, f"{url}/-/ready", tmp_path / "prometheus.log"):
        yield url


def promtool_check_metrics(exposition: bytes) -> subprocess.CompletedProcess[str]:
    """Run ``promtool check metrics`` on an exposition."""
    exe = binary("promtool")
    return subprocess.run(
        [exe, "check", "metrics"], input=exposition.decode(), capture_output=True, text=True, timeout=30
    )


@contextmanager
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """A Prometheus Alertmanager (clustering off); yields its base URL."""
    exe = binary("prometheus-alertmanager")
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n")
    url = f"http://127.0.0.1:{port}"
    args = [
        exe,
        f"--config.file={config}",
        f"--storage.path={tmp_path / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with _process(args, f"{url}/-/ready", tmp_path / "alertmanager.log"):
        yield url


def promtool_check_rules(path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``promtool check rules`` on a rules file."""
    exe = binary("promtool")
    return subprocess.run([exe, "check", "rules", str(path)], capture_output=True, text=True, timeout=30)


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key in ``folder``, made by the openssl binary."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key
