"""The seam to the OpenTelemetry SDK: readers and the metric-producer bridge."""
