"""A Prometheus pull endpoint: serve /metrics on 127.0.0.1 and scrape it once.

Usage: python examples/prometheus_pull.py [--port 9464] [--serve-seconds 0]
"""

from __future__ import annotations

import argparse
import time
import urllib.request

from rfs_otel.monitoring.metrics import MetricsCollector, PrometheusStorage


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--serve-seconds", type=float, default=0.0, help="keep serving this long for a real scraper")
    args = parser.parse_args()

    storage = PrometheusStorage(port=args.port)  # binds 127.0.0.1 unless host= says otherwise
    with MetricsCollector(storage=storage) as collector:
        collector.counter("http_requests_total", "Total HTTP requests", labels={"method": "GET"}).increment(3)
        collector.histogram("http_request_duration_seconds", description="HTTP latency").observe(0.042)
        latency = collector.summary("request_processing_seconds", description="Processing time")
        for ms in (12, 15, 20, 95):
            latency.observe(ms / 1000)
        print(f"serving {storage.url}")
        with urllib.request.urlopen(storage.url, timeout=5) as response:
            text = response.read().decode()
        for line in text.splitlines():
            if line.startswith(("http_requests_total", "request_processing_seconds")):  # quantiles, _sum, _count
                print(line)
        time.sleep(args.serve_seconds)


if __name__ == "__main__":
    main()
