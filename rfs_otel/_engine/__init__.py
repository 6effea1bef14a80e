"""Recording: per-thread cells, series, families, filters and the timer."""
