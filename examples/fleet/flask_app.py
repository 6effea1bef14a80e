"""The shop service on Flask, pre-forked: ``gunicorn flask_app:app --workers 2 --config python:gunicorn_conf``.

Every worker records into memory-mapped files under ``$FLEET_METRICS_DIR`` (start with an empty directory), so
whichever worker answers ``/metrics`` reports the sum over both.
"""

from __future__ import annotations

import os
import time

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from rfs_otel import MetricsCollector, PrometheusStorage
from rfs_otel.wsgi import MetricsMiddleware

LATENCY = 0.12  # seconds an order takes: inside the (0.1, 0.25] bucket of http.server.request.duration

storage = PrometheusStorage(scope_labels=False, target_info=False, dashboard=False)
collector = MetricsCollector(storage=storage, multiprocess_dir=os.environ.get("FLEET_METRICS_DIR", "fleet-metrics"))

shop = Flask(__name__)


@shop.get("/orders/<int:order_id>")
def read_order(order_id: int) -> dict[str, int]:
    time.sleep(LATENCY)
    return {"id": order_id}


@shop.get("/fail")
def fail() -> str:
    raise RuntimeError("the payment provider is down")


shop.wsgi_app = MetricsMiddleware(shop.wsgi_app, collector)  # type: ignore[method-assign]
app = DispatcherMiddleware(shop.wsgi_app, {"/metrics": storage.wsgi_app()})
