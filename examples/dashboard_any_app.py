"""The dashboard of an app instrumented only with the request middleware: rates, routes, latency, no demo tiles.

A plain WSGI app wrapped in ``rfs_otel.wsgi.MetricsMiddleware``, with the storage's routes (``/metrics``, the
page and its JSON API) mounted at ``/monitoring``, served by wsgiref. Prints what ``/monitoring/api/dashboard``
answers for the 5-minute window.

Usage: python examples/dashboard_any_app.py [--serve-seconds 0]
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from rfs_otel import MetricsCollector, PrometheusStorage
from rfs_otel.wsgi import MetricsMiddleware

storage = PrometheusStorage()
collector = MetricsCollector(storage=storage)
monitoring = storage.wsgi_app()
checkouts = itertools.count()


def shop(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The app: /users/<id> answers, /checkout fails one time in four."""
    path = environ["PATH_INFO"]
    failed = path == "/checkout" and next(checkouts) % 4 == 0
    start_response("500 Internal Server Error" if failed else "200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def route_of(environ: dict[str, Any]) -> str | None:
    """The route template (a framework gives it; a bare WSGI app says it itself)."""
    path = environ["PATH_INFO"]
    return "/users/{id}" if path.startswith("/users/") else path if path == "/checkout" else None


instrumented = MetricsMiddleware(shop, collector, route=route_of)


def site(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Mount the monitoring routes at /monitoring (SCRIPT_NAME/PATH_INFO, as DispatcherMiddleware does)."""
    path = environ.get("PATH_INFO", "")
    if path == "/monitoring" or path.startswith("/monitoring/"):
        environ = {**environ, "SCRIPT_NAME": "/monitoring", "PATH_INFO": path[len("/monitoring") :]}
        return monitoring(environ, start_response)
    return instrumented(environ, start_response)


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve-seconds", type=float, default=0.0, help="keep the page up this long")
    args = parser.parse_args()
    server = make_server("127.0.0.1", 0, site, handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        urllib.request.urlopen(f"{base}/monitoring/api/dashboard", timeout=5).read()  # first snapshot
        for i in range(60):
            for path in (f"/users/{i}", "/checkout"):
                try:
                    urllib.request.urlopen(base + path, timeout=5).read()
                except urllib.error.HTTPError:
                    pass  # the 500s are counted as errors
        with urllib.request.urlopen(f"{base}/monitoring/api/dashboard?window=5m", timeout=5) as response:
            view = json.load(response)
        print("requests/s:", round(view["data"]["application"]["requests_per_second"], 1))
        print("tiles shown:", sorted(k for k, shown in view["available"].items() if shown))
        for row in view["routes"]:  # /users/{id} and /checkout, with their error rates and p95
            print(row["route"], row["requests"], f"errors {row['error_rate']:.0%}", f"p95 {row['p95']}")
        print(f"live dashboard: {base}/monitoring/")
        time.sleep(args.serve_seconds)
    finally:
        server.shutdown()
        collector.shutdown()


if __name__ == "__main__":
    main()
