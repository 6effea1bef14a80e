"""Helpers with no knowledge of metrics: fork hooks, optional imports, credential redaction."""
