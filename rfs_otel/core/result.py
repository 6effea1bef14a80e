"""Compatibility path for ``rfs.core.result``: re-exports only."""

from rfs_otel import Failure, Result, Success

__all__ = ["Failure", "Result", "Success"]
