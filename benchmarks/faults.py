"""The receiver under faults, counted: notifications acknowledged, acted on, lost and acted on twice.

Run: python benchmarks/faults.py [--notifications 100]

Each scenario starts `otel-ai-incident serve` in its own process (SQLite stores in a scratch directory),
applies one fault, posts distinct P1 data-leakage notifications as Alertmanager would, waits until the inbox
is drained, then counts from the stores: acknowledged = 200 answers; acted on = incidents whose kill switch
was applied (the containment audit); lost = acknowledged but never acted on; twice = incidents with more
than one application.
  idle-flood:  1,100 idle connections held open against a receiver limited to 1,024 open files;
  locked-db:   the containment database write-locked for 8 s (longer than SQLite's 5 s busy timeout) while
               the notifications arrive.
"""

from __future__ import annotations

import argparse
import collections
import json
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from containment import notification

from otel_ai_incident.containment.state import Change, SqliteContainmentState
from otel_ai_incident.demo.services import free_port
from otel_ai_incident.server.inbox.sql_store import open_inbox

TOKEN = "faults-benchmark-token-0123"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def start(root: Path, port: int) -> subprocess.Popen:
    (root / "token").write_text(TOKEN)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "otel_ai_incident.cli",
            "serve",
            "--port",
            str(port),
            "--token-file",
            str(root / "token"),
            "--containment",
            f"sqlite:///{root / 'c.db'}",
            "--incidents",
            f"sqlite:///{root / 'i.db'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(root / "stderr").open("w"),
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024)),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit("receiver did not start: " + (root / "stderr").read_text())


def post_all(url: str, count: int, offset: int) -> tuple[int, list[float]]:
    acknowledged, latencies = 0, []
    for n in range(offset, offset + count):
        started = time.perf_counter()
        try:
            answer = httpx.post(
                url + "/alertmanager", json=notification(n, "data_leakage"), headers=HEADERS, timeout=30
            )
            acknowledged += answer.status_code == 200
        except httpx.TransportError:
            pass
        latencies.append(time.perf_counter() - started)
    return acknowledged, latencies


def settle(root: Path, timeout_s: float = 120) -> float:
    inbox = open_inbox(f"sqlite:///{root / 'i.db'}")
    started = time.monotonic()
    while inbox.count(pending=True) and time.monotonic() - started < timeout_s:
        time.sleep(0.1)
    return time.monotonic() - started


def count_actions(root: Path) -> collections.Counter[str]:
    state = SqliteContainmentState(root / "c.db")
    applied = collections.Counter(
        r.incident_id for r in state.audit(limit=100_000) if r.change is Change.APPLIED and r.action == "kill_switch"
    )
    state.close()
    return applied


def scenario(name: str, count: int, fault: callable) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix=f"aii-faults-{name}-"))
    port = free_port()
    process = start(root, port)
    try:
        with fault(root, port):
            acknowledged, latencies = post_all(f"http://127.0.0.1:{port}", count, 0)
        drained_s = settle(root)
        applied = count_actions(root)
    finally:
        process.kill()
        process.wait()
    acted = len(applied)
    return {
        "scenario": name,
        "posted": count,
        "acknowledged": acknowledged,
        "acted_on": acted,
        "lost": acknowledged - acted,
        "acted_twice": sum(1 for n in applied.values() if n > 1),
        "ack_max_s": round(max(latencies), 3),
        "drained_after_s": round(drained_s, 1),
    }


class IdleFlood:
    def __init__(self, root: Path, port: int) -> None:
        self.port = port

    def __enter__(self) -> None:
        self.sockets = [socket.create_connection(("127.0.0.1", self.port)) for _ in range(1100)]

    def __exit__(self, *exc: object) -> None:
        for sock in self.sockets:
            sock.close()


class LockedDatabase:
    HOLD_S = 8.0

    def __init__(self, root: Path, port: int) -> None:
        self.path = root / "c.db"

    def __enter__(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("BEGIN IMMEDIATE")
        self.release = threading.Timer(self.HOLD_S, lambda: self.conn.execute("ROLLBACK"))
        self.release.start()

    def __exit__(self, *exc: object) -> None:
        self.release.join()
        self.conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=100)
    args = parser.parse_args()
    for name, fault in (("idle-flood", IdleFlood), ("locked-db", LockedDatabase)):
        print(json.dumps(scenario(name, args.notifications, fault)))


if __name__ == "__main__":
    main()
