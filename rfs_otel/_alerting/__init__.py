"""Alert rules, SLOs, their evaluation and notifiers."""
