"""Flask with rfs_otel.wsgi.MetricsMiddleware; /metrics mounted with Werkzeug's DispatcherMiddleware."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from rfs_otel import MetricsCollector, PrometheusStorage
from rfs_otel.wsgi import MetricsMiddleware

storage = PrometheusStorage(scope_labels=False, target_info=False, dashboard=False)
collector = MetricsCollector(storage=storage)

app = Flask(__name__)


@app.get("/users/<int:user_id>")
def read_user(user_id: int) -> dict[str, int]:
    return {"id": user_id}


app.wsgi_app = MetricsMiddleware(app.wsgi_app, collector)  # type: ignore[method-assign]
app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/metrics": storage.wsgi_app()})  # type: ignore[method-assign]


def main() -> None:
    client = app.test_client()  # in production: gunicorn 'web_flask:app' (see docs/web-flask.md)
    for user_id in (1, 42, 1234):
        client.get(f"/users/{user_id}", buffered=True)
    page = client.get("/metrics").get_data(as_text=True)
    collector.shutdown()
    for line in page.splitlines():
        if line.startswith("http_server_request_duration_seconds_count"):
            print(line)  # one series for /users/<int:user_id>, count 3.0


if __name__ == "__main__":
    main()
