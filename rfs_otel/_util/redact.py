"""Keep credentials out of logs, reprs and Failure messages.

``guard_logs`` puts one filter on rfs_otel's loggers and on those of the OTel exporters it drives: every record
that carries URL userinfo or a registered secret is rewritten to its redacted, formatted message (no arguments
left); every other record passes untouched.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

__all__ = ["basic_auth", "capture_errors", "guard_logs", "redact", "split_credentials"]

_USERINFO = re.compile(r"(?<=://)[^/\s@'\"]+@")
_GUARDED_PREFIXES = ("rfs_otel", "opentelemetry.exporter", "opentelemetry.sdk.metrics", "grpc", "urllib3", "requests")
_MIN_SECRET = 4  # shorter values would blank out ordinary words


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """Return ``url`` without ``user:password@`` and the credentials it carried, if any."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, (parts.username or "", parts.password or "")


def basic_auth(credentials: tuple[str, str]) -> str:
    """The ``Authorization`` header value for HTTP basic auth."""
    return "Basic " + base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()


class _Redactor(logging.Filter):
    """Rewrites each record into its redacted, fully formatted message; remembers ERRORs being captured."""

    def __init__(self) -> None:
        super().__init__("")
        self.secrets: set[str] = set()
        self.captures = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: keep only its format string
            message = str(record.msg)
        clean = redact(message)
        if clean != message:  # records without a secret pass untouched (args and exc_info kept for handlers)
            record.msg, record.args = clean, None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            if redact(text) != text:
                record.exc_text, record.exc_info = redact(text), None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        sink: list[str] | None = getattr(self.captures, "sink", None)
        if sink is not None and record.levelno >= logging.ERROR:
            sink.append(clean)
        return True


_REDACTOR = _Redactor()
_GUARDED: set[str] = set()
_GUARD_LOCK = threading.Lock()


def redact(text: str) -> str:
    """``text`` without URL userinfo and without any registered secret."""
    text = _USERINFO.sub("***@", text)
    for secret in sorted(_REDACTOR.secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def guard_logs(secrets: Iterable[str] = ()) -> None:
    """Register ``secrets`` and filter every existing rfs_otel/OTel-exporter/gRPC/HTTP-client logger."""
    with _GUARD_LOCK:
        for secret in secrets:
            if len(secret) >= _MIN_SECRET:
                _REDACTOR.secrets.add(secret)
                if secret.startswith("Basic "):
                    _REDACTOR.secrets.add(secret[len("Basic ") :])
        names = [name for name in list(logging.Logger.manager.loggerDict) if name.startswith(_GUARDED_PREFIXES)]
        for name in [*_GUARDED_PREFIXES, *names]:
            if name not in _GUARDED:
                _GUARDED.add(name)
                logging.getLogger(name).addFilter(_REDACTOR)


@contextmanager
def capture_errors() -> Iterator[list[str]]:
    """The redacted ERROR messages guarded loggers emit in this thread meanwhile (an exporter's failure cause)."""
    sink: list[str] = []
    previous = getattr(_REDACTOR.captures, "sink", None)
    _REDACTOR.captures.sink = sink
    try:
        yield sink
    finally:
        _REDACTOR.captures.sink = previous
