"""The host-safety invariant, over the public API: recording raises only the documented ``InvalidValueError``
for a bad amount, and nothing ever escapes from collection, exposition, snapshots or the HTTP endpoint."""

from __future__ import annotations

import io
import json
import math
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings
from prometheus_client.parser import text_string_to_metric_families

from rfs_otel import (
    FileMetricsStorage,
    InvalidValueError,
    MemoryMetricsStorage,
    MetricsCollector,
    PrometheusStorage,
)
from rfs_otel.testing import ManualClock

#: Legal amounts at the edges: the largest and smallest floats, subnormals, int64's ends, other number types.
EDGE_AMOUNTS: list[Any] = [
    0,
    1,
    1e308,
    -1e308,
    5e-324,
    -5e-324,
    2**63 - 1,
    -(2**63),
    1.7976931348623157e308,
    Decimal("0.1"),
    Fraction(1, 3),
]
#: Amounts every recording call refuses with ``InvalidValueError``.
BAD_AMOUNTS: list[Any] = [
    math.nan,
    math.inf,
    -math.inf,
    True,
    None,
    "1",
    b"1",
    [1],
    2**64,
    -(2**64),
    object(),
    10**5000,  # its repr alone raises ValueError (int max str digits): the message must not
    Decimal("1e5000"),
    Decimal("NaN"),
]

amounts = st.one_of(
    st.sampled_from(EDGE_AMOUNTS + BAD_AMOUNTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
)
operations = st.lists(
    st.tuples(
        st.sampled_from(["counter", "gauge.set", "gauge.increment", "gauge.decrement", "histogram", "summary"]),
        st.sampled_from(["a", "b"]),
        amounts,
    ),
    max_size=25,
)


def _legal(kind: str, amount: Any) -> bool:
    """Whether the documented recording policy accepts ``amount`` for ``kind``."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float, Decimal, Fraction)):
        return False
    if isinstance(amount, int) and not -(2**63) <= amount < 2**63:
        return False
    value = float(amount)
    if not math.isfinite(value):
        return False
    return not (kind == "counter" and value < 0)


def _record(collector: MetricsCollector, kind: str, label: str, amount: Any) -> None:
    labels = {"route": label}
    if kind == "counter":
        collector.counter("jobs_total", labels=labels).increment(amount)
    elif kind.startswith("gauge."):
        getattr(collector.gauge("queue_depth", labels=labels), kind.split(".")[1])(amount)
    elif kind == "histogram":
        collector.histogram("latency_seconds", labels=labels).observe(amount)
    else:
        collector.summary("duration_seconds", labels=labels).observe(amount)


def _recorded(collector: MetricsCollector) -> set[str]:
    """Prometheus family names of the metrics that hold at least one series."""
    names = {"jobs": "jobs", "queue_depth": "queue_depth", "latency_seconds": "latency_seconds"}
    return {names.get(r.name, r.name) for r in collector.snapshot() if r.name in names}


def _strict_json(payload: bytes) -> Any:
    """Parse as RFC 8259 JSON: NaN and Infinity are not JSON."""

    def refuse(token: str) -> None:
        raise ValueError(f"not JSON: {token}")

    return json.loads(payload, parse_constant=refuse)


def _wsgi_get(app: Any, path: str) -> tuple[str, bytes]:
    status: list[str] = []
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    body = b"".join(app(environ, lambda s, h, *exc: status.append(s)))
    return status[0], body


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_nothing_but_documented_errors_escape(ops: list[tuple[str, str, Any]], tmp_path_factory: Any) -> None:
    """Any sequence of recordings: bad amounts raise InvalidValueError, and every read path still works."""
    directory: Path = tmp_path_factory.mktemp("invariant")
    prometheus = PrometheusStorage()
    file = FileMetricsStorage(directory / "metrics.jsonl")
    collector = MetricsCollector(storage=[MemoryMetricsStorage(), prometheus, file], clock=ManualClock())
    try:
        collector.counter("ops_total").increment()  # something to store even when ops is empty
        for kind, label, amount in ops:
            if _legal(kind, amount):
                _record(collector, kind, label, amount)
            else:
                try:
                    _record(collector, kind, label, amount)
                except InvalidValueError:
                    pass
        result = collector.collect_and_store_sync()
        assert result.is_success(), result
        text = prometheus.exposition().decode()
        families = {f.name for f in text_string_to_metric_families(text)}
        assert families >= {name for name in _recorded(collector)}
        for record in collector.snapshot():
            json.dumps(record.to_dict(), allow_nan=False)
        for summary in ("duration_seconds",):
            for label in ("a", "b"):
                collector.summary(summary, labels={"route": label}).get_statistics()
        app = prometheus.wsgi_app()
        for path in ("/metrics", "/api/dashboard", "/api/series"):
            status, body = _wsgi_get(app, path)
            assert status.startswith("200"), (path, status, body[:200])
            if path.startswith("/api/"):
                _strict_json(body)
        assert len(list(FileMetricsStorage.read(directory / "metrics.jsonl"))) == 1
    finally:
        collector.shutdown()


def test_largest_floats_keep_every_read_path_valid(tmp_path: Path) -> None:
    """Two observe(1e308) calls (a sum of inf) leave /metrics, the JSON APIs and the file storage valid."""
    prometheus = PrometheusStorage()
    file = FileMetricsStorage(tmp_path / "m.jsonl")
    with MetricsCollector(storage=[prometheus, file]) as collector:
        for name in ("h_seconds", "s_seconds"):
            series = collector.histogram(name) if name.startswith("h") else collector.summary(name)
            series.observe(1e308)
            series.observe(1e308)
        assert collector.collect_and_store_sync().is_success()
        for path in ("/api/dashboard", "/api/series"):
            status, body = _wsgi_get(prometheus.wsgi_app(), path)
            assert status.startswith("200"), body[:300]
            _strict_json(body)
        assert list(text_string_to_metric_families(prometheus.exposition().decode()))
        assert len(list(FileMetricsStorage.read(tmp_path / "m.jsonl"))) == 1
