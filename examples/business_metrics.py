"""The seed's business metrics: orders, order values, payment success rate, inventory per product."""

from __future__ import annotations

import asyncio

from rfs_otel.core.result import Failure, Result, Success
from rfs_otel.monitoring.metrics import get_metrics_collector


class OrderService:
    def __init__(self) -> None:
        collector = get_metrics_collector()
        self.orders_created = collector.counter("orders_created_total", description="Orders created")
        self.order_values = collector.histogram(
            "order_value_distribution", buckets=[10, 50, 100, 500, 1000, 5000, 10000], description="Order values"
        )
        self.payment_success_rate = collector.gauge("payment_success_rate", description="Share of paid orders")
        self.inventory_levels = collector.gauge("inventory_remaining", description="Items left per product")
        self._stock = {"p1": 10, "p2": 3}
        self._paid = 0
        self._attempts = 0

    async def create_order(self, order: dict[str, object]) -> Result[dict[str, object], str]:
        product = str(order["product_id"])
        self._attempts += 1
        if self._stock.get(product, 0) <= 0:
            self.payment_success_rate.set(self._paid / self._attempts)
            return Failure(f"product {product} is sold out")
        self._stock[product] -= 1
        self._paid += 1
        self.orders_created.increment()
        self.order_values.observe(float(order["amount"]))  # type: ignore[arg-type]
        remaining_inventory = self._stock[product]
        self.inventory_levels.set(remaining_inventory, labels={"product_id": order["product_id"]})
        self.payment_success_rate.set(self._paid / self._attempts)
        return Success({"order": order, "remaining": remaining_inventory})


async def main() -> None:
    service = OrderService()
    for i in range(8):
        result = await service.create_order({"product_id": "p2" if i % 2 else "p1", "amount": 25 * (i + 1)})
        print(result)
    print("orders_created_total =", service.orders_created.get_value())
    print("inventory p2 =", service.inventory_levels.get_value(labels={"product_id": "p2"}))
    print("payment_success_rate =", round(service.payment_success_rate.get_value(), 3))


if __name__ == "__main__":
    asyncio.run(main())
