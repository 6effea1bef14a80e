"""What a metric is: records, validation, quantile maths. Pure data and functions, no state."""
