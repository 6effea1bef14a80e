"""FastAPI with rfs_otel.asgi.MetricsMiddleware, served by uvicorn; /metrics and the dashboard under /monitoring."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

import uvicorn
from fastapi import FastAPI

from rfs_otel import MetricsCollector, PrometheusStorage
from rfs_otel.asgi import MetricsMiddleware

storage = PrometheusStorage(scope_labels=False, target_info=False)
collector = MetricsCollector(storage=storage)

app = FastAPI()
app.add_middleware(MetricsMiddleware, collector=collector)
app.mount("/monitoring", storage.asgi_app())  # page /monitoring/, scrape /monitoring/metrics


@app.get("/users/{user_id}")
def read_user(user_id: int) -> dict[str, int]:
    return {"id": user_id}


def main() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    try:
        for user_id in (1, 42, 1234):
            urllib.request.urlopen(f"{base}/users/{user_id}", timeout=5).read()
        page = urllib.request.urlopen(f"{base}/monitoring/metrics", timeout=5).read().decode()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        collector.shutdown()
    for line in page.splitlines():
        if line.startswith("http_server_request_duration_seconds_count"):
            print(line)  # one series for /users/{user_id}, count 3.0


if __name__ == "__main__":
    main()
