"""Receivers side by side on PostgreSQL: webhook ack latency at a steady rate, against one receiver on SQLite.

Run: python benchmarks/receivers.py [--rate 200] [--seconds 20]

Both set-ups run in the same process tree and the same run, each receiver as `otel-ai-incident serve` in its
own process, PostgreSQL as a server of its own (fsync on, PostgreSQL's defaults) on this machine:
  baseline: one receiver, incidents and inbox in one SQLite file (the single-host default);
  fleet:    two receivers on one PostgreSQL database, the load split between them round-robin, as an
            Alertmanager cluster spreads it. GOAL: ack p99 <= 20 ms at 200 notifications/s.
After the load, the time until every notification was acted on (the shared backlog drained) is printed too.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from containment import HEADERS, TOKEN, notification, paced, percentile

from otel_ai_incident.demo.postgres import PostgresServer
from otel_ai_incident.demo.services import Receiver


def start_receivers(root: Path, incidents_url: str, count: int) -> list[Receiver]:
    """`count` receivers (`otel-ai-incident serve`) on one incident store and inbox."""
    (root / "token").write_text(TOKEN)
    options = ["--token-file", str(root / "token"), "--containment", f"sqlite:///{root / 'c.db'}"]
    return [Receiver(root, f"receiver-{index}").start(*options, "--incidents", incidents_url) for index in range(count)]


def measure(urls: list[str], rate: float, seconds: float, offset: int) -> tuple[list[float], float]:
    """Ack latencies of notifications posted round-robin over `urls`, and the seconds until all were acted on."""
    client = httpx.Client(headers=HEADERS, limits=httpx.Limits(max_connections=64))
    targets = itertools.cycle(urls)
    acks: list[float] = []

    def post(i: int) -> None:
        url = next(targets)
        started = time.perf_counter()
        response = client.post(url + "/alertmanager", json=notification(offset + i, "alien_invasion"))
        acks.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text

    paced(rate, seconds, post)
    started = time.perf_counter()
    while httpx.get(urls[0] + "/healthz").json()["pending_notifications"]:
        time.sleep(0.05)
    return acks, time.perf_counter() - started


def run(root: Path, incidents_url: str, receivers: int, rate: float, seconds: float, offset: int):
    started = start_receivers(root, incidents_url, receivers)
    try:
        return measure([r.url for r in started], rate, seconds, offset)
    finally:
        for receiver in started:
            receiver.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="notifications per second, in total")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, PostgresServer(durable=True) as postgres:
        root = Path(tmp)
        (root / "single").mkdir()
        (root / "fleet").mkdir()
        sqlite_url = "sqlite:///" + str(root / "single" / "i.db")
        sqlite_acks, sqlite_drain = run(root / "single", sqlite_url, 1, args.rate, args.seconds, 0)
        fleet_acks, fleet_drain = run(
            root / "fleet", postgres.create_database("bench"), 2, args.rate, args.seconds, 10_000_000
        )

    base_p50, base_p99 = statistics.median(sqlite_acks), percentile(sqlite_acks, 0.99)
    p50, p99 = statistics.median(fleet_acks), percentile(fleet_acks, 0.99)
    print(f"{'set-up':42} {'ack p50':>9} {'ack p99':>9} {'drained after':>14}")
    print(f"{'1 receiver, SQLite (baseline)':42} {base_p50 * 1e3:7.2f}ms {base_p99 * 1e3:7.2f}ms {sqlite_drain:12.2f}s")
    print(f"{'2 receivers, one PostgreSQL':42} {p50 * 1e3:7.2f}ms {p99 * 1e3:7.2f}ms {fleet_drain:12.2f}s")
    met = p99 <= 0.020
    print(
        f"ratio p99 fleet/baseline {p99 / base_p99:.2f}; GOAL ack p99 <= 20 ms at {args.rate:.0f}/s: "
        f"{'met' if met else 'NOT met'} ({len(fleet_acks)} notifications)"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
