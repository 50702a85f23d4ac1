"""Containment benchmark: webhook ack latency, alert-to-enforcement delay, and the gate's turn-path cost.

Run: /work/venv/bin/python benchmarks/containment.py [--rate 200] [--seconds 10] [--trials 30]

Each figure is printed with a baseline measured in the same run:
  1. ack p99 of POST /alertmanager at --rate notifications/s (GOAL <= 20 ms), against GET /healthz on the
     same receiver at the same rate (the HTTP floor);
  2. from the POST to an app-side gate (default 1 s cache, reading the receiver's SQLite file) enforcing
     the kill switch, p99 (GOAL <= 1.5 s), against the time until the state holds the entry;
  3. the gate's turn check with nothing contained (GOAL <= 2 us), against an empty function call.
The receiver runs as `otel-ai-incident serve` in its own process, as in production.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from otel_ai_incident.containment.gate import ContainmentGate
from otel_ai_incident.containment.registry import Registry
from otel_ai_incident.containment.state import SqliteContainmentState, connect
from otel_ai_incident.names import ContainmentActionName as Action

TOKEN = "benchmark-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def notification(n: int, incident_type: str) -> dict[str, Any]:
    labels = {"alertname": "Bench", "severity": "p1", "incident_type": incident_type, "signal": "bench"}
    return {
        "receiver": "bench", "status": "firing", "version": "4", "groupKey": f"{{}}:{{n=\"{n}\"}}",
        "truncatedAlerts": 0, "groupLabels": {}, "commonLabels": labels, "commonAnnotations": {},
        "externalURL": "http://am", "alerts": [{
            "status": "firing", "labels": labels, "annotations": {}, "startsAt": "2025-01-01T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom", "fingerprint": f"bench{n:08x}",
        }],
    }  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_receiver(root: Path, port: int) -> subprocess.Popen:
    (root / "token").write_text(TOKEN)
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_ai_incident.cli", "serve", "--port", str(port), "--token-file",
         str(root / "token"), "--containment", f"sqlite:///{root / 'c.db'}",
         "--incidents", f"sqlite:///{root / 'i.db'}"],
        env=os.environ.copy(),
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("receiver did not start")


def paced(rate: float, seconds: float, send: Callable[[int], None]) -> None:
    """Open loop: request i starts at i/rate whatever the previous ones do (no coordinated omission)."""
    total = int(rate * seconds)
    start = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, i)


def ack_latency(url: str, rate: float, seconds: float) -> tuple[list[float], list[float]]:
    client = httpx.Client(headers=HEADERS, limits=httpx.Limits(max_connections=32))
    acks: list[float] = []
    floors: list[float] = []

    def post(i: int) -> None:
        started = time.perf_counter()
        response = client.post(url + "/alertmanager", json=notification(10_000_000 + i, "alien_invasion"))
        acks.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text

    def health(i: int) -> None:
        started = time.perf_counter()
        client.get(url + "/healthz")
        floors.append(time.perf_counter() - started)

    paced(rate, seconds, health)
    paced(rate, seconds, post)
    return acks, floors


def commit_floor(root: Path, rate: float, count: int = 400) -> list[float]:
    """Durable (fsynced) SQLite commits at the same rate: what the disk alone costs an acknowledgement."""
    conn = connect(root / "floor.db")
    conn.execute("CREATE TABLE t (x)")
    times = []
    for i in range(count):
        started = time.perf_counter()
        conn.execute("INSERT INTO t VALUES (?)", (i,))
        times.append(time.perf_counter() - started)
        time.sleep(max(0.0, 1 / rate - times[-1]))
    conn.close()
    return times


def drain_time(url: str) -> float:
    """Seconds after the last ack until the worker has acted on everything (its backlog at this rate)."""
    started = time.perf_counter()
    while httpx.get(url + "/healthz").json()["pending_notifications"]:
        time.sleep(0.05)
    return time.perf_counter() - started


def enforcement_delay(url: str, state: SqliteContainmentState, trials: int) -> tuple[list[float], list[float]]:
    gate = ContainmentGate(state, registry=Registry())  # the default 1 s cache
    to_gate: list[float] = []
    to_state: list[float] = []
    with httpx.Client(headers=HEADERS) as client:
        for n in range(trials):
            state.lift(Action.KILL_SWITCH, None, actor="benchmark", reason="next trial")
            while gate.turn_blocked(None) is not None:
                time.sleep(0.001)
            time.sleep(random.random())  # land anywhere in the gate's cache period
            started = time.perf_counter()
            client.post(url + "/alertmanager", json=notification(n, "data_leakage"))
            stored = None
            while gate.turn_blocked(None) is None:
                if stored is None and state.read().entries:
                    stored = time.perf_counter() - started
                time.sleep(0.001)
            to_gate.append(time.perf_counter() - started)
            to_state.append(stored if stored is not None else to_gate[-1])
    return to_gate, to_state


def gate_cost(state: SqliteContainmentState) -> tuple[float, float]:
    gate = ContainmentGate(state, registry=Registry())
    state.lift(Action.KILL_SWITCH, None, actor="benchmark", reason="measure the open path")
    gate.refresh()

    def empty(user_pseudonym: str | None) -> None:
        return None

    number = 1_000_000
    check = min(timeit.repeat(lambda: gate.turn_blocked("p"), number=number, repeat=5)) / number
    floor = min(timeit.repeat(lambda: empty("p"), number=number, repeat=5)) / number
    return check, floor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="notifications per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the ack measurement")
    parser.add_argument("--trials", type=int, default=30, help="POST-to-enforcement trials")
    parser.add_argument("--port", type=int, default=18080)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        receiver = start_receiver(root, args.port)
        url = f"http://127.0.0.1:{args.port}"
        try:
            acks, floors = ack_latency(url, args.rate, args.seconds)
            drained = drain_time(url)
            state = SqliteContainmentState(root / "c.db")
            to_gate, to_state = enforcement_delay(url, state, args.trials)
            check, floor = gate_cost(state)
            commits = commit_floor(root, args.rate)
        finally:
            receiver.terminate()
            receiver.wait(timeout=10)

    ack_p99, floor_p99 = percentile(acks, 0.99), percentile(floors, 0.99)
    gate_p99, state_p99 = percentile(to_gate, 0.99), percentile(to_state, 0.99)
    rows = [
        (f"ack p99 @ {args.rate:.0f}/s", f"{ack_p99 * 1e3:.2f} ms", f"GET /healthz p99 {floor_p99 * 1e3:.2f} ms",
         ack_p99 / floor_p99, "<= 20 ms", ack_p99 <= 0.020),
        ("POST -> gate enforces, p99", f"{gate_p99:.3f} s", f"POST -> state p99 {state_p99:.3f} s",
         gate_p99 / state_p99, "<= 1.5 s", gate_p99 <= 1.5),
        ("gate turn check, open", f"{check * 1e9:.0f} ns", f"empty call {floor * 1e9:.0f} ns",
         check / floor, "<= 2 us", check <= 2e-6),
    ]
    print(f"{'measure':30} {'value':>10}  {'baseline (same run)':34} {'ratio':>7}  {'goal':9} met")
    for name, value, baseline, ratio, goal, met in rows:
        print(f"{name:30} {value:>10}  {baseline:34} {ratio:7.2f}  {goal:9} {'yes' if met else 'NO'}")
    print(f"(fsynced SQLite commit alone at {args.rate:.0f}/s: p50 {statistics.median(commits) * 1e3:.2f} ms, "
          f"p99 {percentile(commits, 0.99) * 1e3:.2f} ms)")
    print(f"(ack p50 {statistics.median(acks) * 1e3:.2f} ms over {len(acks)} notifications, worker backlog "
          f"drained {drained:.2f} s after the last; enforcement p50 {statistics.median(to_gate):.3f} s over "
          f"{len(to_gate)} trials)")
    return 0 if all(row[-1] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
