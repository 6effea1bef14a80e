"""File storage: one line of OTLP JSON per collection (the official json-file encoding), rotated by size.

Every record is one ``os.write`` of bytes on an ``O_APPEND`` descriptor, under an ``flock`` on ``<path>.lock``
shared by every process writing the path; a failed write is truncated away so the file always ends at a
complete line, and rotation by one process never makes another one's write fail.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics.export import MetricReader

from .._otel.bridge import in_memory_reader
from .._result import Failure, Result, Success
from .._util.optional import require
from .base import MetricsStorage
from .memory import count_points

__all__ = ["FileMetricsStorage"]

_MIB = 1024 * 1024
_RECORD_START = b'{"resourceMetrics"'
_log = logging.getLogger("rfs_otel")


class FileMetricsStorage(MetricsStorage):
    """Appends each collection to ``path`` as OTLP JSON; past ``max_bytes`` rotates to ``path.1`` ... ``path.N``.

    At most ``backup_count`` rotated files are kept (the retention policy); the oldest is deleted.
    A write that fails (unwritable directory, full disk) is a Failure naming the path; files already
    written are never touched by a failed write. Several processes may share one path (``<path>.lock``).
    """

    flush_on_shutdown = True

    def __init__(self, path: str | os.PathLike[str], max_bytes: int = 10 * _MIB, backup_count: int = 5) -> None:
        self._exporter_module = require("opentelemetry.exporter.otlp.json.file", "file")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(f"FileMetricsStorage max_bytes must be a positive int, got {max_bytes!r}")
        if isinstance(backup_count, bool) or not isinstance(backup_count, int) or backup_count < 0:
            raise ValueError(f"FileMetricsStorage backup_count must be an int >= 0, got {backup_count!r}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self._reader = in_memory_reader()

    @property
    def lock_path(self) -> Path:
        """The sidecar file whose ``flock`` serialises rotation and appends across processes."""
        return self.path.with_name(f"{self.path.name}.lock")

    def readers(self) -> Sequence[MetricReader]:
        return (self._reader,)

    def _encode(self, data: Any) -> bytes:
        buffer = io.StringIO()
        exporter = self._exporter_module.FileMetricExporter(stream=buffer)
        if exporter.export(data).name != "SUCCESS":
            raise ValueError("the OTLP JSON encoder rejected the collection")
        record = buffer.getvalue().encode()
        return record if record.endswith(b"\n") else record + b"\n"

    def store(self, timeout: float) -> Result[int, str]:
        try:
            data = self._reader.get_metrics_data()
        except Exception as exc:
            return Failure(f"file storage {self.path}: collection failed: {type(exc).__name__}: {exc}")
        if data is None:
            return Success(0)
        try:
            record = self._encode(data)
        except Exception as exc:
            return Failure(f"file storage {self.path}: encoding failed: {type(exc).__name__}: {exc}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with _exclusive(self.lock_path, timeout):
                self._rotate_if_needed(len(record))
                _append(self.path, record)
        except OSError as exc:
            return Failure(f"cannot write metrics to {self.path}: {exc.strerror or exc}")
        return Success(count_points(data))

    def _rotate_if_needed(self, incoming: int) -> None:
        """Caller holds the lock, so the size seen here is the size the append will extend."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0 or size + incoming <= self.max_bytes:
            return
        if self.backup_count == 0:
            self.path.unlink()
            return
        oldest = self._backup(self.backup_count)
        if oldest.exists():
            oldest.unlink()
        for index in range(self.backup_count - 1, 0, -1):
            source = self._backup(index)
            if source.exists():
                source.replace(self._backup(index + 1))
        self.path.replace(self._backup(1))

    def _backup(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}")

    def files(self) -> list[Path]:
        """The existing files, oldest first (``path.N`` ... ``path.1``, ``path``)."""
        candidates = [self._backup(i) for i in range(self.backup_count, 0, -1)] + [self.path]
        return [p for p in candidates if p.exists()]

    @staticmethod
    def read(path: str | os.PathLike[str]) -> Iterator[Any]:
        """Yield each stored snapshot of one file as an OTLP ``ExportMetricsServiceRequest`` message.

        A line cut short by a crash (or by a full disk, in older versions) is skipped with a warning on
        the ``rfs_otel`` logger; a complete snapshot glued after such a fragment is still recovered.
        """
        json_format = require("google.protobuf.json_format", "file")
        service = require("opentelemetry.proto.collector.metrics.v1.metrics_service_pb2", "file")
        with open(path, "rb") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                message = _parse(line, json_format, service)
                if message is None:
                    start = line.rfind(_RECORD_START)
                    message = _parse(line[start:], json_format, service) if start > 0 else None
                    kept = "the complete snapshot after it is kept" if message else "skipped"
                    _log.warning("%s line %d holds an incomplete snapshot (a cut-short write); %s", path, number, kept)
                if message is not None:
                    yield message

    def read_all(self) -> Iterator[Any]:
        """Every stored snapshot across the rotated files, oldest first."""
        for path in self.files():
            yield from self.read(path)

    def __repr__(self) -> str:
        return f"FileMetricsStorage({str(self.path)!r}, max_bytes={self.max_bytes}, backup_count={self.backup_count})"


def _parse(line: bytes, json_format: Any, service: Any) -> Any:
    """The request encoded in ``line``, or None when it is not one complete snapshot."""
    try:
        return json_format.Parse(line, service.ExportMetricsServiceRequest())
    except (json_format.ParseError, ValueError, UnicodeDecodeError):
        return None


@contextlib.contextmanager
def _exclusive(lock_path: Path, timeout: float) -> Iterator[None]:
    """Hold ``flock(LOCK_EX)`` on ``lock_path``, waiting at most ``timeout`` seconds (TimeoutError after)."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + max(timeout, 0.0)
        pause = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{lock_path} stayed locked by another writer for {timeout:g} s") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
        try:
            yield
        finally:
            # Unlock explicitly: a child forked meanwhile holds a copy of ``fd``, and the lock belongs to the
            # shared open file description, so closing only our copy would leave it locked until the child exits.
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _append(path: Path, record: bytes) -> None:
    """Append ``record`` and fsync; on any error cut the file back to its size before, a complete line."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        start = os.fstat(fd).st_size
        if start and os.pread(fd, 1, start - 1) != b"\n":
            record = b"\n" + record  # an older writer's cut-short line: never glue onto it
        try:
            view = memoryview(record)
            while view:
                written = os.write(fd, view)
                if written == 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                view = view[written:]
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)
