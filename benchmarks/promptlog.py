"""Prompt-log benchmarks: what the request path pays, and how fast entries reach SQLite.

Run: /work/venv/bin/python benchmarks/promptlog.py [--calls 200000] [--entries 100000] [--rounds 3] [--dir DIR]

1. submit() latency (p50, p99) with the writer thread running against a real SQLite file, next to
   `collections.deque.append` and `queue.Queue.put_nowait` of the same object timed the same way.
   GOAL: p50 <= 5 us, p99 <= 50 us.
2. Sustained entries/s of ~1 KB entries through the writer (first submit to close() returned), against
   plain batched executemany of the same rows (precomputed) into the same schema and settings: the ceiling.
   GOAL: >= 40,000 entries/s.
3. submit() latency while another connection holds the database locked (every batch fails after the busy
   timeout, the queue fills and entries are dropped): the app must not notice.
"""

from __future__ import annotations

import argparse
import collections
import os
import queue
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from otel_ai_incident.promptlog.entry import PromptLogEntry, system_prompt_hash
from otel_ai_incident.promptlog.sqlite import _INSERT, SqliteStore, _row
from otel_ai_incident.promptlog.writer import PromptLogWriter

SYSTEM_PROMPT = "You are a helpful support assistant for ACME. Never reveal internal data. " * 4
BATCH = 500


def make_entries(n: int) -> list[PromptLogEntry]:
    """~1 KB entries shaped like the hooks' (a guardrail decision on each, a tool call on every third)."""
    prompt_hash = system_prompt_hash(SYSTEM_PROMPT)
    now = time.time()
    return [
        PromptLogEntry(
            log_id=f"{int(now * 1000) + i:012x}{i:016x}", timestamp=now + i / 1000, user_pseudonym=f"{i % 997:032x}",
            pseudonym_key_id="3f9a1c2b", session_id=f"session-{i % 5003}", model="gpt-4o-mini",
            system_prompt_hash=prompt_hash, user_message=f"question {i} " + "q" * 420,
            assistant_response=f"answer {i} " + "a" * 420, input_tokens=120, output_tokens=110,
            guardrail_decisions=[{"guardrail": "toxicity", "stage": "output", "decision": "allow", "score": 0.02}],
            tool_calls=[{"tool": "lookup_order", "arguments": {"order_id": i}, "writes": False, "call_id": None,
                         "anomaly_score": 0.1, "outcome": "ok", "error_type": None}] if i % 3 == 0 else [],
            latency_ms=812.5, trace_id=f"{i:032x}", span_id=f"{i:016x}", system_prompt=SYSTEM_PROMPT,
        )
        for i in range(n)
    ]  # fmt: skip


def latencies(call: Callable[[PromptLogEntry], object], entries: list[PromptLogEntry]) -> list[int]:
    """Nanoseconds per call, each call timed on its own (the timer's own cost is in every figure alike)."""
    clock = time.perf_counter_ns
    out = []
    append = out.append
    for entry in entries:
        start = clock()
        call(entry)
        append(clock() - start)
    return out


def percentiles(samples: list[int]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] / 1000, cuts[98] / 1000


def bench_submit(entries: list[PromptLogEntry], directory: Path) -> None:
    deque_p = percentiles(latencies(collections.deque().append, entries))
    queue_p = percentiles(latencies(queue.Queue(maxsize=len(entries)).put_nowait, entries))
    writer = PromptLogWriter(SqliteStore(str(directory / "latency.db")), max_queue=len(entries))
    submit_p = percentiles(latencies(writer.submit, entries))
    writer.close(60)
    print(f"\n1. submit() latency over {len(entries):,} calls, writer thread running (us)")
    print(f"   {'':28} {'p50':>8} {'p99':>8}")
    print(f"   {'deque.append (baseline)':28} {deque_p[0]:8.2f} {deque_p[1]:8.2f}")
    print(f"   {'Queue.put_nowait (baseline)':28} {queue_p[0]:8.2f} {queue_p[1]:8.2f}")
    print(f"   {'PromptLogWriter.submit':28} {submit_p[0]:8.2f} {submit_p[1]:8.2f}")
    print(f"   ratio submit/deque.append: p50 {submit_p[0] / deque_p[0]:.2f}x, p99 {submit_p[1] / deque_p[1]:.2f}x;"
          f" submit/put_nowait: p50 {submit_p[0] / queue_p[0]:.2f}x, p99 {submit_p[1] / queue_p[1]:.2f}x")
    print(f"   GOAL p50 <= 5 us: {_verdict(submit_p[0] <= 5)}; p99 <= 50 us: {_verdict(submit_p[1] <= 50)}")


def bench_throughput(entries: list[PromptLogEntry], directory: Path, rounds: int) -> None:
    """Baseline and writer alternate on fresh files, after an os.sync(), so neither pays for the other's
    write-back; the median of the rounds is reported (a shared disk is noisy)."""
    rows = [_row(entry, None) for entry in entries]
    baseline, through_writer = [], []
    for r in range(rounds):
        baseline.append(_plain_inserts(rows, directory / f"baseline-{r}.db"))
        through_writer.append(_through_writer(entries, directory / f"writer-{r}.db"))
    size = sum(len(str(value)) for row in rows for value in row if value is not None) / len(rows)
    base, writer = statistics.median(baseline), statistics.median(through_writer)
    print(f"\n2. sustained writes of {len(entries):,} entries (~{size / 1000:.1f} KB per row), "
          f"median of {rounds} rounds")
    print(f"   plain batched executemany, same rows, schema and settings (ceiling): {base:10,.0f} entries/s"
          f"  {_rounds(baseline)}")
    print(f"   through PromptLogWriter (first submit .. close returned):           {writer:10,.0f} entries/s"
          f"  {_rounds(through_writer)}")
    print(f"   ratio writer/ceiling: {writer / base:.2f}")
    print(f"   GOAL >= 40,000 entries/s: {_verdict(writer >= 40_000)}")


def _plain_inserts(rows: list[tuple[object, ...]], path: Path) -> float:
    store = SqliteStore(str(path))
    store.get("")  # creates the file and schema outside the timing
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA wal_autocheckpoint={store.wal_autocheckpoint}")
    os.sync()
    start = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        conn.execute("BEGIN")
        conn.executemany(_INSERT, rows[i:i + BATCH])
        conn.execute("COMMIT")
    rate = len(rows) / (time.perf_counter() - start)
    conn.close()
    return rate


def _through_writer(entries: list[PromptLogEntry], path: Path) -> float:
    store = SqliteStore(str(path))
    store.get("")
    writer = PromptLogWriter(store, max_queue=len(entries))
    os.sync()
    start = time.perf_counter()
    for entry in entries:
        writer.submit(entry)
    writer.close(600)
    rate = len(entries) / (time.perf_counter() - start)
    written = sqlite3.connect(path).execute("SELECT COUNT(*) FROM prompt_log").fetchone()[0]
    store.close()
    assert written == len(entries), f"only {written} of {len(entries)} entries written"
    return rate


def _rounds(rates: list[float]) -> str:
    return "(" + ", ".join(f"{rate:,.0f}" for rate in rates) + ")"


def bench_locked(entries: list[PromptLogEntry], directory: Path) -> None:
    path = str(directory / "locked.db")
    SqliteStore(path).get("")
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    dropped: collections.Counter[str] = collections.Counter()
    writer = PromptLogWriter(SqliteStore(path, busy_timeout=0.05),
                             on_drop=lambda reason, count: dropped.update({reason: count}))
    p50, p99 = percentiles(latencies(writer.submit, entries))
    locker.execute("ROLLBACK")
    writer.close(60)
    print(f"\n3. submit() while the database is locked, {len(entries):,} calls (us)")
    print(f"   p50 {p50:.2f}  p99 {p99:.2f}; dropped {dict(dropped)}")


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000, help="submit() calls timed")
    parser.add_argument("--entries", type=int, default=100_000, help="entries written for the throughput test")
    parser.add_argument("--rounds", type=int, default=3, help="alternating throughput rounds")
    parser.add_argument("--dir", default=None, help="where the database files go (default: the temp dir; "
                                                    "/dev/shm takes the disk out of the figures)")
    args = parser.parse_args()
    print(f"SQLite {sqlite3.sqlite_version}, files in {args.dir or tempfile.gettempdir()}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        bench_submit(make_entries(args.calls), directory)
        bench_throughput(make_entries(args.entries), directory, args.rounds)
        bench_locked(make_entries(args.calls), directory)


if __name__ == "__main__":
    main()
