"""RFS-compatible import paths (``rfs.core`` -> ``rfs_otel.core``)."""
