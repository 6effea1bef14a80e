"""Retention: per-call labels, removing a series, and expiring idle series after a TTL.

A shop keeps one gauge series per product in stock; sold-out products are removed, and series nobody has
touched for an hour expire on their own (series_ttl=3600).
"""

from __future__ import annotations

from rfs_otel import MetricsCollector
from rfs_otel.testing import ManualClock


def main() -> None:
    clock = ManualClock()  # a real service leaves clock= out
    collector = MetricsCollector(clock=clock, series_ttl=3600)
    inventory = collector.gauge("inventory_remaining", "Items left in stock")
    sold = collector.counter("items_sold_total", "Items sold")
    for product, left in [("apple", 3), ("pear", 13)]:
        inventory.set(left, labels={"product_id": product})
        sold.increment(2, labels={"product_id": product})
    print("in stock:", collector.get_sample_value("inventory_remaining", {"product_id": "apple"}))

    collector.remove("inventory_remaining", {"product_id": "pear"})  # sold out: no longer exported
    print("pear exported:", collector.get_sample_value("inventory_remaining", {"product_id": "pear"}))

    collector.snapshot()  # each collection checks for idle series
    clock.advance(3600)
    inventory.set(2, labels={"product_id": "apple"})
    names = sorted({(m.name, m.labels.get("product_id")) for m in collector.snapshot()})
    print("after an idle hour:", names)
    collector.shutdown()


if __name__ == "__main__":
    main()
