"""File storage: one line of OTLP JSON per collection (the official json-file encoding), rotated by size."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics.export import MetricReader

from ._memory_storage import count_points
from ._optional import require
from ._result import Failure, Result, Success
from ._sdk import in_memory_reader
from ._storage import MetricsStorage

__all__ = ["FileMetricsStorage"]

_MIB = 1024 * 1024


class FileMetricsStorage(MetricsStorage):
    """Appends each collection to ``path`` as OTLP JSON; past ``max_bytes`` rotates to ``path.1`` ... ``path.N``.

    At most ``backup_count`` rotated files are kept (the retention policy); the oldest is deleted.
    A write that fails (unwritable directory, full disk) is a Failure naming the path; files already
    written are never touched by a failed write.
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

    def readers(self) -> Sequence[MetricReader]:
        return (self._reader,)

    def _encode(self, data: Any) -> str:
        buffer = io.StringIO()
        exporter = self._exporter_module.FileMetricExporter(stream=buffer)
        if exporter.export(data).name != "SUCCESS":
            raise ValueError("the OTLP JSON encoder rejected the collection")
        return buffer.getvalue()

    def store(self, timeout: float) -> Result[int, str]:
        try:
            data = self._reader.get_metrics_data()
        except Exception as exc:
            return Failure(f"file storage {self.path}: collection failed: {type(exc).__name__}: {exc}")
        if data is None:
            return Success(0)
        try:
            line = self._encode(data)
        except Exception as exc:
            return Failure(f"file storage {self.path}: encoding failed: {type(exc).__name__}: {exc}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._rotate_if_needed(len(line.encode()))
            with open(self.path, "a", encoding="utf-8") as handle:
                start = handle.tell()
                try:
                    handle.write(line)
                    handle.flush()
                    os.fsync(handle.fileno())
                except OSError:
                    handle.truncate(start)  # leave no partial line behind
                    raise
        except OSError as exc:
            return Failure(f"cannot write metrics to {self.path}: {exc.strerror or exc}")
        return Success(count_points(data))

    def _rotate_if_needed(self, incoming: int) -> None:
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
        """Yield each stored snapshot of one file as an OTLP ``ExportMetricsServiceRequest`` message."""
        json_format = require("google.protobuf.json_format", "file")
        service = require("opentelemetry.proto.collector.metrics.v1.metrics_service_pb2", "file")
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json_format.Parse(line, service.ExportMetricsServiceRequest())

    def read_all(self) -> Iterator[Any]:
        """Every stored snapshot across the rotated files, oldest first."""
        for path in self.files():
            yield from self.read(path)

    def __repr__(self) -> str:
        return f"FileMetricsStorage({str(self.path)!r}, max_bytes={self.max_bytes}, backup_count={self.backup_count})"
