"""Storage backends, one OTel reader or exporter each."""
