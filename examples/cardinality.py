"""Cardinality control: filters at series creation, the series limit, and the report that finds the culprit."""

from __future__ import annotations

import re

from rfs_otel import MetricFilter, MetricsCollector


def main() -> None:
    collector = MetricsCollector(
        cardinality_limit=100,
        filters=[
            MetricFilter.deny("debug_"),
            MetricFilter.replace_label_value("path", lambda p: re.sub(r"/\d+", "/{id}", p)),
            MetricFilter.cap_label_values("tenant", 5),
            MetricFilter.common_labels({"region": "eu-west-1"}),
        ],
    )
    for i in range(1000):
        collector.counter("http_requests_total", "Requests", labels={"path": f"/users/{i}"}).increment()
        collector.counter("jobs_total", "Jobs", labels={"tenant": f"t{i % 40}"}).increment()
        collector.counter("logins_total", "Logins", labels={"user_id": str(i)}).increment()  # the mistake
        collector.counter("debug_cache_probes_total").increment()
    for row in collector.cardinality_report():
        print(row)
    folded = collector.counter("rfs_otel_cardinality_overflow_total", labels={"metric": "logins_total"}).get_value()
    print("label sets folded into logins_total's overflow series:", folded)
    collector.shutdown()


if __name__ == "__main__":
    main()
