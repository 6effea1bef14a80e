"""RFS-compatible import paths (``rfs.monitoring`` -> ``rfs_otel.monitoring``)."""
