"""``rfs-otel snapshot``: current metrics of a live endpoint or a stored file, as a table or JSON."""

from __future__ import annotations

import base64
import urllib.request
from pathlib import Path
from typing import Any

from .._util.optional import require
from .._util.redact import split_credentials

__all__ = ["FetchError", "Row", "fetch", "rows_from_exposition", "rows_from_file", "table"]

Row = dict[str, Any]


class FetchError(OSError):
    """A fetch failed: the HTTP status or the connection error, never the URL's password."""


def fetch(url: str, timeout: float = 10) -> str:
    """GET ``url`` and return the body as text; ``user:password@`` in the URL is sent as HTTP basic auth.

    Any failure is a ``FetchError`` whose message never contains the password.
    """
    clean, credentials = split_credentials(url)
    request = urllib.request.Request(clean)
    if credentials is not None:
        token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode("ascii")
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return str(response.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) if getattr(exc, "code", None) is None else None
        message = str(reason if reason is not None else exc)
        if credentials is not None and credentials[1]:
            message = message.replace(credentials[1], "***")
        raise FetchError(message) from None


def rows_from_exposition(text: str) -> list[Row]:
    """One row per sample of a Prometheus text exposition."""
    parser = require("prometheus_client.parser", "prometheus")
    rows = []
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if not k.startswith("otel_scope")}
            rows.append({"name": sample.name, "type": family.type, "labels": labels, "value": sample.value})
    return rows


def _attributes(items: Any) -> dict[str, str]:
    out = {}
    for kv in items:
        value = kv.value
        kind = value.WhichOneof("value")
        out[kv.key] = str(getattr(value, kind)) if kind else ""
    return out


def rows_from_file(path: Path) -> list[Row]:
    """One row per data point of the newest snapshot in a FileMetricsStorage file."""
    from .._storages.file import FileMetricsStorage

    last = None
    for last in FileMetricsStorage.read(path):  # noqa: B007 - we want the newest one
        pass
    if last is None:
        return []
    rows = []
    for rm in last.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                for point in getattr(metric, kind).data_points:
                    if kind == "histogram":
                        value: Any = {"count": point.count, "sum": point.sum}
                    else:
                        value = point.as_double if point.WhichOneof("value") == "as_double" else point.as_int
                    rows.append(
                        {"name": metric.name, "type": kind, "labels": _attributes(point.attributes), "value": value}
                    )
    return rows


def table(rows: list[Row]) -> str:
    """Rows as an aligned text table."""
    lines = [("NAME", "LABELS", "VALUE")]
    for row in rows:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(row["labels"].items()))
        lines.append((row["name"], labels, str(row["value"])))
    widths = [max(len(line[i]) for line in lines) for i in range(2)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in lines)
