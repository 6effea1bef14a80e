"""The rfs-otel command: demo, snapshot, lint."""
