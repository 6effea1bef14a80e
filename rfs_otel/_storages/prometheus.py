"""Prometheus storage: OTel's ``PrometheusMetricReader`` on a registry of its own, served and/or pushed.

Pull: ``/metrics`` from a background HTTP server (or the WSGI/ASGI apps). Push: prometheus_client's
``push_to_gateway`` (PUT: the job's group is replaced) on that same registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import MetricReader

from .._otel.bridge import prometheus_reader
from .._result import Failure, Result, Success
from .._util.http import HttpError, expect_success
from .._util.http import request as http_request
from .._util.optional import require
from .._util.redact import basic_auth, guard_logs, redact, split_credentials
from .._web.app import WebApp, serve, tls_context
from .._web.dashboard import DashboardNames, MetricsDashboard
from .._web.source import MetricSource
from .base import MetricsStorage

__all__ = ["PrometheusStorage"]


class PrometheusStorage(MetricsStorage):
    """Prometheus exposition of the collector's metrics: pull endpoint, Pushgateway push, or both.

    ``PrometheusStorage(push_gateway_url=..., job_name=...)`` pushes on every ``collect_and_store()``;
    ``PrometheusStorage(port=9464)`` serves ``/metrics`` (port 0 picks a free one), bound to
    127.0.0.1 unless ``host`` says otherwise; with neither, mount ``wsgi_app()``/``asgi_app()`` in
    your own server.
    """

    def __init__(
        self,
        push_gateway_url: str | None = None,
        job_name: str = "rfs_application",
        grouping_key: Mapping[str, str] | None = None,
        timeout: float = 10,
        auth: tuple[str, str] | None = None,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        scope_labels: bool = True,
        target_info: bool = True,
        dashboard: bool = True,
        dashboard_names: DashboardNames | None = None,
        http_auth: tuple[str, str] | None = None,
        tls_certfile: str | None = None,
        tls_keyfile: str | None = None,
    ) -> None:
        client = require("prometheus_client", "prometheus")
        if not job_name or not isinstance(job_name, str):
            raise ValueError(f"PrometheusStorage job_name must be a non-empty str, got {job_name!r}")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(f"PrometheusStorage timeout must be a positive number of seconds, got {timeout!r}")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535):
            raise ValueError(f"PrometheusStorage port must be an int in 0..65535, got {port!r}")
        if (tls_certfile is None) != (tls_keyfile is None):
            raise ValueError(
                "PrometheusStorage needs both tls_certfile and tls_keyfile (the same path for a combined PEM), "
                f"got tls_certfile={tls_certfile!r}, tls_keyfile={tls_keyfile!r}"
            )
        context = None if tls_certfile is None or tls_keyfile is None else tls_context(tls_certfile, tls_keyfile)
        self._client = client
        self.registry = client.CollectorRegistry(auto_describe=True)
        self._reader: Any = prometheus_reader(self.registry, scope_labels, target_info)
        self.flush_on_shutdown = push_gateway_url is not None
        self.remote = push_gateway_url is not None
        self._push_url: str | None = None
        self._auth: tuple[str, str] | None = auth
        if push_gateway_url is not None:
            self._push_url, url_auth = split_credentials(push_gateway_url)
            self._auth = auth or url_auth
        guard_logs([] if self._auth is None else [self._auth[1], basic_auth(self._auth)])
        self.job_name = job_name
        self.grouping_key = dict(grouping_key or {})
        self.timeout = float(timeout)
        self._server: Any = None
        self._host = host
        self._tls = context is not None
        self._dashboard_enabled = dashboard
        self._dashboard_names = dashboard_names
        self.dashboard: MetricsDashboard | None = None
        from .._web.scrape import metrics_asgi, metrics_wsgi  # the scrape body is the direct reader's

        self._web = WebApp(
            metrics_wsgi(self._render, client.make_wsgi_app(self.registry)),
            lambda: metrics_asgi(self._render, lambda: client.make_asgi_app(self.registry)),
            lambda: self.dashboard,
            auth=http_auth,
            dashboard_enabled=dashboard,
        )
        if port is not None:
            self._server = serve(self._web.wsgi, host, port, context)

    def attach(self, collector: MetricSource) -> None:
        """Bind the dashboard to the collector; a serving storage samples it every 2 s for live charts."""
        if self._dashboard_enabled and self.dashboard is None:
            self.dashboard = MetricsDashboard(collector, names=self._dashboard_names)
            if self._server is not None:
                self.dashboard.start(interval=2.0)

    # -- the storage contract -----------------------------------------------------------------

    def readers(self) -> Sequence[MetricReader]:
        return (self._reader,)

    def store(self, timeout: float) -> Result[int, str]:
        """Push to the Pushgateway when configured (pull-only: nothing to deliver).

        The whole push (connect, TLS, send, answer) has one deadline: ``min(self.timeout, timeout)``.
        """
        if self._push_url is None:
            return Success(0)
        seconds = max(min(self.timeout, timeout), 0.001)
        started = time.monotonic()
        try:
            self._client.push_to_gateway(
                self._push_url,
                job=self.job_name,
                registry=self.registry,
                grouping_key=self.grouping_key,
                timeout=seconds,
                handler=self._handler(),
            )
        except Exception as exc:
            elapsed = time.monotonic() - started
            return Failure(
                f"push to {self._push_url} (job {self.job_name!r}) failed: {_cause(exc)}"
                + ("" if isinstance(exc, HttpError) else f" (after {elapsed:.2f} s)")
            )
        return Success(sum(len(family.samples) for family in self.registry.collect()))

    def _handler(self) -> Callable[..., Callable[[], None]]:
        """prometheus_client's push handler hook, sending through the deadline-bounded client."""
        authorization = None if self._auth is None else basic_auth(self._auth)

        def handler(url: str, method: str, timeout: float | None, headers: Any, data: bytes) -> Callable[[], None]:
            def send() -> None:
                sent = dict(headers)
                if authorization is not None:
                    sent["Authorization"] = authorization
                answer = http_request(method, url, timeout=timeout or self.timeout, body=data, headers=sent)
                expect_success(method, url, answer)

            return send

        return handler

    # -- pull ---------------------------------------------------------------------------------

    @property
    def port(self) -> int | None:
        """The port ``/metrics`` is served on (the real one when 0 was asked), or None if not serving."""
        return None if self._server is None else int(self._server.server_port)

    @property
    def url(self) -> str | None:
        """``http://host:port/metrics`` when serving, else None."""
        if self._server is None:
            return None
        host = f"[{self._host}]" if ":" in self._host else self._host
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{host}:{self.port}/metrics"

    @property
    def dashboard_url(self) -> str | None:
        """The live dashboard's address when serving, else None."""
        url = self.url
        return None if url is None or not self._dashboard_enabled else url[: -len("metrics")]

    def exposition(self, accept: str = "") -> bytes:
        """The current exposition (what a scrape with this ``Accept`` header gets; text unless OpenMetrics is asked)."""
        return self._render(accept)[0]

    def _render(self, accept: str) -> tuple[bytes, str]:
        """(body, content type) of a scrape: facade families rendered directly, the rest through OTel's exporter."""
        encoder, content_type = self._client.exposition.choose_encoder(accept)
        if not self.claimed:  # no collector yet: an empty exposition (OTel's reader would log it is unregistered)
            return bytes(encoder(self._client.CollectorRegistry())), str(content_type)
        return bytes(self._reader.exposition(encoder)), str(content_type)

    def wsgi_app(self) -> Any:
        """A WSGI app serving ``/metrics`` and the dashboard (``/``, ``/api/dashboard``) in an existing service."""
        return self._web.wsgi

    def asgi_app(self) -> Any:
        """An ASGI app serving ``/metrics`` and the dashboard in an existing service."""
        return self._web.asgi

    def stop(self) -> None:
        """Stop serving ``/metrics`` and the dashboard, within ~2 s whatever clients do; idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
        if self.dashboard is not None:
            self.dashboard.stop()

    def shutdown(self) -> None:
        self.stop()

    def __repr__(self) -> str:
        parts = []
        if self._push_url is not None:
            parts.append(f"push_gateway_url={self._push_url!r}, job_name={self.job_name!r}")
        if self._server is not None:
            parts.append(f"url={self.url!r}")
        return f"PrometheusStorage({', '.join(parts)})"


def _cause(exc: BaseException) -> str:
    """A short cause: HTTP status, refused, DNS, TLS or deadline with the elapsed time, never credentials."""
    if isinstance(exc, HttpError):
        return str(exc)
    return redact(f"{type(exc).__name__}: {exc}")
