"""Three instances of one service (FastAPI, Flask under gunicorn with 2 workers, Django) ready for one Prometheus.

    python examples/web_fleet.py                       # start, send requests, print each /metrics count, stop
    python examples/web_fleet.py --serve --out fleet   # keep serving; prometheus --config.file=fleet/prometheus.yml

It writes the file_sd targets, the alerting rules (``to_prometheus_rules``) and a Prometheus config into ``--out``.
See docs/fleet.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import urllib.request
from pathlib import Path

from fleet.launch import drive, prometheus_config, run_fleet, write_rules, write_targets


def _count(address: str) -> float:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        page = response.read().decode()
    prefix = "http_server_request_duration_seconds_count{"
    return sum(float(line.rsplit(" ", 1)[1]) for line in page.splitlines() if line.startswith(prefix))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="folder for targets.json, rules.yml, prometheus.yml (default: temp)")
    parser.add_argument("--serve", action="store_true", help="keep the fleet running until Ctrl-C")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        out = args.out or Path(temp)
        out.mkdir(parents=True, exist_ok=True)
        with run_fleet(Path(temp)) as targets:
            write_targets(out / "targets.json", targets)
            write_rules(out / "rules.yml")
            (out / "prometheus.yml").write_text(prometheus_config(out / "targets.json", out / "rules.yml"))
            for job, address in sorted(targets.items()):
                answers = drive(address, orders=5, failures=2)
                print(f"{job} at {address}: sent {dict(answers)}, /metrics counts {_count(address):.0f} requests")
            print(f"Prometheus config: {out / 'prometheus.yml'}")
            if args.serve:
                print("serving; Ctrl-C stops the fleet")
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass


if __name__ == "__main__":
    main()
