"""A Flask service with rfs_otel.wsgi.MetricsMiddleware for the pre-fork test; /metrics sums every worker."""

from __future__ import annotations

import os

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from rfs_otel import MetricsCollector, PrometheusStorage
from rfs_otel.wsgi import MetricsMiddleware

storage = PrometheusStorage(scope_labels=False, target_info=False, dashboard=False)
collector = MetricsCollector(storage=storage, multiprocess_dir=os.environ["RFS_OTEL_TEST_MP_DIR"])
flask_app = Flask(__name__)


@flask_app.get("/users/<int:user_id>")
def user(user_id: int) -> str:
    return str(os.getpid())


flask_app.wsgi_app = MetricsMiddleware(flask_app.wsgi_app, collector)  # type: ignore[method-assign]
app = DispatcherMiddleware(flask_app.wsgi_app, {"/metrics": storage.wsgi_app()})
