"""Alert acknowledgement while updates go to a webhook that hangs, against a receiver without updates.

Run: python benchmarks/notify.py [--rate 50] [--seconds 10] [--rounds 2]

Each round runs three set-ups one after the other, each an `otel-ai-incident serve` process on SQLite files:
  baseline:  no --notify;
  answering: --notify with one JSON webhook that answers at once;
  hanging:   the same plus a second JSON webhook that never answers (5 s timeout, so each of its
             deliveries holds its lane for 5 s per attempt).
Distinct P1 notifications are posted at a steady rate (each opens an incident: an "opened" and a
"containment applied" update). Printed: ack p50/p99 of each set-up, and how many updates the answering
webhook had received 10 s after the load. GOAL: the hanging webhook costs no ack latency (hanging ~
answering) and does not hold up the answering webhook's updates.
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
    results: dict[str, list[float]] = {"baseline": [], "answering": [], "hanging": []}
    received = {"answering": 0, "hanging": 0}
    per_setup = int(args.rate * args.seconds)
    for round_ in range(args.rounds):
        offset = round_ * 3 * per_setup
        with tempfile.TemporaryDirectory() as tmp:
            results["baseline"] += acks(Path(tmp), None, args.rate, args.seconds, offset)
        for n, name in enumerate(("answering", "hanging"), start=1):
            with tempfile.TemporaryDirectory() as tmp, Endpoint() as good, Endpoint(hang_s=3600) as hanging:
                root = Path(tmp)
                targets = [{"name": "good", "kind": "json", "url": good.url}]
                if name == "hanging":
                    targets.append({"name": "hang", "kind": "json", "url": hanging.url})
                notify = root / "notify.yaml"
                notify.write_text(yaml.safe_dump({"version": 1, "delivery": {"timeout_s": 5}, "targets": targets}))
                results[name] += acks(root, notify, args.rate, args.seconds, offset + n * per_setup)
                received[name] += len(good.received)
    for name, times in results.items():
        print(
            f"{name:9} ack p50 {statistics.median(times) * 1e3:7.2f} ms  p99 {percentile(times, 0.99) * 1e3:7.2f} ms"
            f"  ({len(times)} notifications)"
        )
    expected = 2 * per_setup * args.rounds
    for name, count in received.items():
        print(f"{name}: the answering webhook received {count} of {expected} updates within 10 s of the load's end")


if __name__ == "__main__":
    main()
