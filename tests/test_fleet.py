"""A fleet behind one Prometheus: FastAPI (uvicorn), Flask (gunicorn, 2 workers, multiprocess) and Django (uvicorn,
async) instances of examples/fleet, discovered through file_sd; counts, quantiles, rules and an alert checked
through the real Prometheus and Alertmanager HTTP APIs.

Counts are exact: every instance is a fresh process, so a counter's change between two instants is the number of
requests sent in between. ``x - x offset <d>`` evaluated at the later instant is that "last minus first"
(``increase()`` would extrapolate to the window's edges and is not exact).
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from examples.fleet.launch import ERROR_RULE, drive, prometheus_config, run_fleet, write_rules, write_targets

from .servers import alertmanager, get_json, prometheus_with_config, promtool_check_rules

COUNT = "http_server_request_duration_seconds_count"
ORDERS = {"shop-fastapi": "/orders/{order_id}", "shop-flask": "/orders/<int:order_id>",
          "shop-django": "/orders/<int:order_id>"}  # fmt: skip
WARMUP = (2, 1)  # orders, failures per instance before the first instant
SENT = (10, 4)  # orders, failures per instance between the two instants
T = TypeVar("T")


def _until(check: Callable[[], T | None], what: str, timeout: float = 20.0) -> T:
    """Poll ``check`` until it returns a value; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout} s")
        time.sleep(0.2)


@dataclass
class Fleet:
    prometheus: str
    alertmanager: str
    targets: dict[str, str]
    rules: Path
    first: float  # an instant after Prometheus saw the warm-up requests
    last: float  # an instant after Prometheus saw the counted ones

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": promql, **({"time": f"{at:.3f}"} if at is not None else {})}
        reply = get_json(f"{self.prometheus}/api/v1/query?{urllib.parse.urlencode(params)}")
        assert reply["status"] == "success", reply
        return list(reply["data"]["result"])

    def by(self, promql: str, *keys: str, at: float | None = None) -> dict[tuple[str, ...], float]:
        return {tuple(r["metric"].get(k, "") for k in keys): float(r["value"][1]) for r in self.query(promql, at)}

    def sent_between(self, grouping: str) -> str:
        """Requests counted between ``first`` and ``last``, evaluated at ``last``: last value minus first."""
        offset = f"{round((self.last - self.first) * 1000)}ms"
        return f"sum by ({grouping}) ({COUNT}) - sum by ({grouping}) ({COUNT} offset {offset})"


def _totals_are(fleet_prometheus: str, expected: int) -> Callable[[], bool | None]:
    def check() -> bool | None:
        reply = get_json(
            f"{fleet_prometheus}/api/v1/query?{urllib.parse.urlencode({'query': f'sum by (job) ({COUNT})'})}"
        )
        totals = {r["metric"]["job"]: float(r["value"][1]) for r in reply["data"]["result"]}
        return True if totals == {job: expected for job in ORDERS} else None

    return check


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    folder = tmp_path_factory.mktemp("fleet")
    with ExitStack() as stack:
        am = stack.enter_context(alertmanager(folder))
        targets = stack.enter_context(run_fleet(folder))
        write_targets(folder / "targets.json", targets)
        write_rules(folder / "rules.yml")
        am_address = am.removeprefix("http://")
        config = prometheus_config(folder / "targets.json", folder / "rules.yml", am_address)
        prom = stack.enter_context(prometheus_with_config(folder, config))

        def all_up() -> bool | None:
            up = get_json(f"{prom}/api/v1/query?query=up")["data"]["result"]
            return True if {(r["metric"]["job"], r["value"][1]) for r in up} == {(j, "1") for j in ORDERS} else None

        _until(all_up, "Prometheus found and scraped the three file_sd targets")
        for address in targets.values():
            drive(address, *WARMUP)
        _until(_totals_are(prom, sum(WARMUP)), "Prometheus saw the warm-up requests")
        first = time.time()
        for job, address in targets.items():
            assert drive(address, *SENT) == {("/orders", 200): SENT[0], ("/fail", 500): SENT[1]}, job
        _until(_totals_are(prom, sum(WARMUP) + sum(SENT)), "Prometheus saw the counted requests")
        last = time.time()
        yield Fleet(prom, am, targets, folder / "rules.yml", first, last)


def test_requests_per_instance_match_what_was_sent(fleet: Fleet) -> None:
    """sum by (job): each instance's requests between the two instants are exactly those sent (14 each)."""
    assert fleet.by(fleet.sent_between("job"), "job", at=fleet.last) == {(job,): sum(SENT) for job in ORDERS}


def test_requests_per_route_match_what_was_sent(fleet: Fleet) -> None:
    """Per route template and status: 10 orders (200) and 4 failures (500) on every instance."""
    counts = fleet.by(fleet.sent_between("job, http_route, http_response_status_code"), "job", "http_route",
                      "http_response_status_code", at=fleet.last)  # fmt: skip
    expected = {}
    for job, route in ORDERS.items():
        expected[(job, route, "200")] = SENT[0]
        expected[(job, "/fail", "500")] = SENT[1]
    assert counts == expected


def test_flask_workers_are_summed_in_one_series_set(fleet: Fleet) -> None:
    """Two gunicorn workers, one scrape target: the Flask job has one series per route and status, no pid label."""
    series = fleet.query(f'{COUNT}{{job="shop-flask"}}', at=fleet.last)
    assert len(series) == 2 and all("pid" not in s["metric"] for s in series)


def test_fleet_median_latency_is_in_the_bucket_of_the_known_latency(fleet: Fleet) -> None:
    """Orders sleep 0.12 s: the fleet's histogram_quantile(0.5) lies in the (0.1, 0.25] bucket."""
    promql = (
        'histogram_quantile(0.5, sum by (le) (http_server_request_duration_seconds_bucket{http_route=~"/orders/.*"}))'
    )
    [result] = fleet.query(promql, at=fleet.last)
    assert 0.1 < float(result["value"][1]) <= 0.25


def test_the_written_rules_pass_promtool_and_load_healthy(fleet: Fleet) -> None:
    """promtool check rules passes; Prometheus loaded the group and evaluates the rule without error."""
    result = promtool_check_rules(fleet.rules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'http_response_status_code=\\"500\\"' in fleet.rules.read_text()
    [group] = get_json(f"{fleet.prometheus}/api/v1/rules")["data"]["groups"]
    [rule] = group["rules"]
    assert (group["name"], rule["name"], rule["health"]) == ("shop-fleet", ERROR_RULE.name, "ok")


def test_one_instance_driven_into_errors_alerts_through_alertmanager(fleet: Fleet) -> None:
    """Failures at > 2/s on the Flask instance: Alertmanager receives FleetInstanceErrors for shop-flask only."""

    def alerted() -> list[dict[str, Any]] | None:
        drive(fleet.targets["shop-flask"], 0, 20)
        alerts = get_json(f"{fleet.alertmanager}/api/v2/alerts")
        ours = [a for a in alerts if a["labels"].get("alertname") == ERROR_RULE.name]
        return ours or None

    alerts = _until(alerted, "Alertmanager received the error-rate alert", timeout=30)
    assert {(a["labels"]["job"], a["labels"]["severity"]) for a in alerts} == {("shop-flask", "page")}
    assert all(a["status"]["state"] == "active" for a in alerts)
