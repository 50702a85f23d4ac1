"""Alert acknowledgement while updates go to a webhook that hangs, against a receiver without updates.

Run: python benchmarks/notify.py [--rate 50] [--seconds 10] [--rounds 2]

Each round runs both set-ups one after the other, each an `otel-ai-incident serve` process on SQLite files:
  baseline: no --notify;
  hanging:  --notify with two JSON webhooks: one that answers, one that never answers (5 s timeout, so
            every update holds a sender for 5 s per attempt).
Distinct P1 notifications are posted at a steady rate (each opens an incident: an "opened" and a
"containment applied" update). Printed: ack p50/p99 of each, and for the hanging set-up how many updates
the answering webhook had received 10 s after the load. GOAL: the hanging webhook costs no ack latency.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from containment import HEADERS, TOKEN, notification, paced, percentile

from otel_ai_incident.demo.services import Receiver
from otel_ai_incident.testing.webhook_endpoint import Endpoint


def acks(root: Path, notify: Path | None, rate: float, seconds: float, offset: int) -> list[float]:
    (root / "token").write_text(TOKEN)
    options = ["--token-file", str(root / "token"), "--containment", f"sqlite:///{root / 'c.db'}"]
    options += ["--incidents", f"sqlite:///{root / 'i.db'}"]
    receiver = Receiver(root, "receiver").start(*options, *(["--notify", str(notify)] if notify else []))
    client = httpx.Client(headers=HEADERS, limits=httpx.Limits(max_connections=32))
    times: list[float] = []

    def post(i: int) -> None:
        started = time.perf_counter()
        response = client.post(receiver.url + "/alertmanager", json=notification(offset + i, "data_leakage"))
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text

    try:
        paced(rate, seconds, post)
        time.sleep(10)
    finally:
        receiver.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[float]] = {"baseline": [], "hanging": []}
    delivered, expected = 0, 0
    for round_ in range(args.rounds):
        offset = round_ * 2 * int(args.rate * args.seconds)
        with tempfile.TemporaryDirectory() as tmp:
            results["baseline"] += acks(Path(tmp), None, args.rate, args.seconds, offset)
        with tempfile.TemporaryDirectory() as tmp, Endpoint() as good, Endpoint(hang_s=3600) as hanging:
            root = Path(tmp)
            notify = root / "notify.yaml"
            targets = [
                {"name": "good", "kind": "json", "url": good.url},
                {"name": "hang", "kind": "json", "url": hanging.url},
            ]
            notify.write_text(yaml.safe_dump({"version": 1, "delivery": {"timeout_s": 5}, "targets": targets}))
            offset += int(args.rate * args.seconds)
            results["hanging"] += acks(root, notify, args.rate, args.seconds, offset)
            delivered += len(good.received)
            expected += 2 * int(args.rate * args.seconds)
    for name, times in results.items():
        print(
            f"{name:9} ack p50 {statistics.median(times) * 1e3:7.2f} ms  p99 {percentile(times, 0.99) * 1e3:7.2f} ms"
            f"  ({len(times)} notifications)"
        )
    print(f"answering webhook received {delivered} of {expected} updates within 10 s of the load's end")


if __name__ == "__main__":
    main()
