"""A PostgreSQL outage under an instrumented app: what a whole turn costs before, during and after it.

The app is set up as a fleet replica is (`instrument()` with the prompt log and the containment state in one
PostgreSQL, a pseudonym key given), runs full turns (an input guardrail, a tool call, an output guardrail,
the completion) at a steady rate, and the server is stopped for `--outage` seconds, then started again.
Printed per phase: turn latency p50 and p99 (wall clock of the calling thread), with the ratio of each
phase's p99 to the p99 before the outage measured in the same run; then what the prompt log did: entries
submitted and written; the rest was dropped beyond the writer's bound, and counted.

    python benchmarks/outage.py [--rate 200] [--before 10] [--outage 30] [--after 15]

GOAL: the turn path never blocks: p99 during and after the outage within 1.2x of the p99 before it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import otel_ai_incident as aii
from otel_ai_incident import names
from otel_ai_incident.demo.postgres import PostgresServer
from otel_ai_incident.promptlog.backends import open_store
from otel_ai_incident.promptlog.store import LogQuery
from otel_ai_incident.telemetry import hooks

SYSTEM = "You are the support assistant of Example Shop." * 4
MESSAGE = "Hi, when will my order 12345 arrive? It has been a week."
REPLY = "Your order 12345 left our warehouse yesterday and should arrive by Friday."


def turn(index: int) -> None:
    with aii.llm_turn(
        model="gpt-4o-mini",
        user_id=f"user-{index % 500}",
        session_id=f"s-{index % 2000}",
        system_prompt=SYSTEM,
        user_message=MESSAGE,
    ) as current:
        current.guardrail("prompt_injection", stage="input", decision="allow", score=0.02)
        with current.tool_call("get_order", {"order_id": 12345 + index % 97}):
            pass
        current.guardrail("toxicity", stage="output", decision="allow", score=0.01)
        current.complete(REPLY, input_tokens=42, output_tokens=17)


def run_phase(seconds: float, rate: float, start_index: int) -> list[float]:
    """Turns at `rate` per second for `seconds` (open loop); each turn's latency in seconds."""
    latencies = []
    count = int(seconds * rate)
    started = time.perf_counter()
    for i in range(count):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t0 = time.perf_counter()
        turn(start_index + i)
        latencies.append(time.perf_counter() - t0)
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="turns per second")
    parser.add_argument("--before", type=float, default=10.0)
    parser.add_argument("--outage", type=float, default=30.0)
    parser.add_argument("--after", type=float, default=15.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, PostgresServer(durable=True) as server:
        url = server.create_database("outage")
        key_file = Path(tmp) / "key"
        key_file.write_text(secrets.token_hex(32))
        os.environ[names.ENV_PSEUDONYM_KEY_FILE] = str(key_file)
        handle = aii.instrument(service_name="outage-benchmark", prometheus=False, containment=url, prompt_log=url)
        phases: dict[str, list[float]] = {}
        phases["before"] = run_phase(args.before, args.rate, 0)
        server.stop_server("fast")
        phases["during"] = run_phase(args.outage, args.rate, 1_000_000)
        server.restart_only()
        phases["after"] = run_phase(args.after, args.rate, 2_000_000)
        submitted = sum(len(v) for v in phases.values())
        hooks.get_runtime().prompt_log.flush()
        handle.shutdown(timeout=10)
        store = open_store(url)
        written = sum(1 for _ in store.query(LogQuery()))
        store.close()

    base = percentile(phases["before"], 0.99)
    print(f"{'phase':8} {'turns':>7} {'p50 µs':>9} {'p99 µs':>9} {'p99 / before':>13}")
    met = True
    for phase, latencies in phases.items():
        p99 = percentile(latencies, 0.99)
        ratio = p99 / base
        met &= phase == "before" or ratio <= 1.2
        print(f"{phase:8} {len(latencies):7d} {statistics.median(latencies) * 1e6:9.1f} {p99 * 1e6:9.1f} {ratio:13.2f}")
    print(
        f"prompt log: {submitted} turns, {written} entries written, {submitted - written} dropped "
        "(beyond the writer's bound while the server was down; counted in ai_prompt_log_dropped_total)"
    )
    print(f"GOAL turn p99 during and after the outage <= 1.2x before: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
