"""App replicas for the containment tests and benchmarks: gates in processes of their own, driven over a
pipe, and the measure of how long a change of the state takes to reach every replica.

A `GateProcess` runs `open_gate(url, **options)` in a child Python process, as an app replica would, and
answers commands: wait until turns are blocked (or open) and say when; run turns of one user for a while
and say how many went through. Times are `time.monotonic()`, which on Linux is one clock for every process
of the machine, so a child's timestamp and the parent's can be subtracted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

POLL_S = 0.001  # how often a waiting replica checks its gate


class TurnGate(Protocol):
    def turn_blocked(self, user_pseudonym: str | None) -> tuple[str, str | None] | None: ...


class GateProcess:
    """A gate in a child process. `options` go to `open_gate` (JSON-serialisable values only)."""

    def __init__(self, url: str, **options: Any) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "otel_ai_incident.testing.replicas", url, json.dumps(options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        ready = self._read()
        if ready != "ready":
            self.close()
            raise RuntimeError(f"the replica did not start: {ready!r}")

    def start_waiting(self, blocked: bool) -> None:
        """Start waiting until turns are blocked (or open); `reached()` says when that happened."""
        self._send("blocked" if blocked else "open")

    def reached(self) -> float:
        return float(self._read())

    def run_turns(self, pseudonym: str, start_at: float, seconds: float, every_s: float) -> None:
        """Start turns of `pseudonym` at monotonic time `start_at`, one every `every_s`, for `seconds`."""
        self._send(f"turns {pseudonym} {start_at} {seconds} {every_s}")

    def accepted(self) -> tuple[int, int]:
        """(turns let through, turns tried) of the last `run_turns`."""
        accepted, tried = self._read().split()
        return int(accepted), int(tried)

    def sees_rate_limit(self, pseudonym: str) -> bool:
        self._send(f"limited {pseudonym}")
        return self._read() == "True"

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(timeout=10)
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()

    def _send(self, line: str) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()

    def _read(self) -> str:
        assert self._process.stdout is not None
        return self._process.stdout.readline().strip()


def wait_until(gate: TurnGate, blocked: bool, timeout_s: float = 30.0) -> float:
    """Check `gate` every millisecond until turns are blocked (or open); the monotonic time it happened."""
    deadline = time.monotonic() + timeout_s
    while (gate.turn_blocked(None) is not None) != blocked:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gate was not {'blocked' if blocked else 'open'} within {timeout_s} s")
        time.sleep(POLL_S)
    return time.monotonic()


def time_to_every_replica(
    change: Callable[[], object],
    gates: Sequence[TurnGate],
    processes: Sequence[GateProcess] = (),
    *,
    blocked: bool = True,
    timeout_s: float = 30.0,
) -> float:
    """Seconds from just before `change()` until every gate (here and in `processes`) blocks turns (or lets
    them through again, with `blocked=False`)."""
    for process in processes:
        process.start_waiting(blocked)
    started = time.monotonic()
    change()
    waiting = list(gates)
    last = started
    deadline = started + timeout_s
    while waiting:
        now = time.monotonic()
        reached = [g for g in waiting if (g.turn_blocked(None) is not None) == blocked]
        if reached:
            last = now
            waiting = [g for g in waiting if g not in reached]
        elif now > deadline:
            raise TimeoutError(f"{len(waiting)} gates did not follow the change within {timeout_s} s")
        else:
            time.sleep(POLL_S)
    return max([last, *(process.reached() for process in processes)]) - started


def _serve(url: str, options: dict[str, Any]) -> None:
    from otel_ai_incident.containment.gate import open_gate

    gate = open_gate(url, **options)
    gate.turn_blocked(None)  # waits for the first load
    print("ready", flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        if command in ("blocked", "open"):
            print(wait_until(gate, command == "blocked"), flush=True)
        elif command == "limited":
            print(args[0] in gate.snapshot.rate_limits, flush=True)
        elif command == "turns":
            pseudonym, start_at, seconds, every_s = args[0], float(args[1]), float(args[2]), float(args[3])
            time.sleep(max(0.0, start_at - time.monotonic()))
            accepted = tried = 0
            while time.monotonic() < start_at + seconds:
                tried += 1
                accepted += gate.turn_blocked(pseudonym) is None
                time.sleep(every_s)
            print(accepted, tried, flush=True)
    gate.close()


if __name__ == "__main__":
    _serve(sys.argv[1], json.loads(sys.argv[2]))
