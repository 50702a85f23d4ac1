"""Prompt-log benchmarks: what the request path pays, and how fast entries reach SQLite and PostgreSQL.

Run: python benchmarks/promptlog.py [--calls 200000] [--entries 100000] [--per-process 100000] [--rounds 3]
                                    [--outage 30] [--sections submit,sqlite,locked,fleet,paths,outage] [--dir DIR]

The PostgreSQL sections start a server of their own on this machine (initdb + pg_ctl in a temp dir, fsync on,
PostgreSQL's defaults otherwise: `demo.postgres.PostgresServer(durable=True)`) and remove it afterwards.

1. submit: submit() latency (p50, p99) with the writer thread running against SQLite and against
   PostgreSQL, next to `deque.append` and `Queue.put_nowait` of the same object timed the same way.
   GOAL: p50 < 1 us.
2. sqlite: sustained entries/s of ~1 KB entries through one writer into SQLite (first submit to close()
   returned), against plain batched executemany of the same rows (precomputed) into the same schema: the ceiling.
3. locked: submit() latency while another connection holds the SQLite database locked (the writer keeps
   what fits its bound and retries; the rest is dropped and counted): the app must not notice.
4. fleet: 3 app processes, each with its own writer, write ~1 KB entries into one PostgreSQL database, and
   then into one SQLite file; aggregate entries/s (the first submit anywhere to the last close() returned).
   Ceilings in the same run: the same rows, precomputed, from 3 processes through plain COPY (PostgreSQL) or
   plain executemany (SQLite). Writer CPU per entry in the app process = process CPU time (every thread)
   minus the submitting thread's CPU time (`time.thread_time`), divided by the entries.
   GOALS: >= 40,000 entries/s into PostgreSQL; writer CPU <= 10 us per entry.
5. paths: bulk insert paths into PostgreSQL from one process, 500 rows a transaction: COPY (the store's
   path), COPY into a temporary table then INSERT ... ON CONFLICT DO NOTHING (the store's retry path),
   multi-row INSERT ... ON CONFLICT DO NOTHING, and executemany (pipelined by psycopg); entries/s and the
   client's CPU per entry.
6. outage: one writer at ~2,000 entries/s into PostgreSQL; the server is stopped for --outage seconds and
   started again. submit() p50/p99 before and during the outage, what was dropped, and how long after the
   restart the backlog took to drain.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import queue
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from otel_ai_incident.promptlog.backends import open_store
from otel_ai_incident.promptlog.entry import PromptLogEntry, system_prompt_hash
from otel_ai_incident.promptlog.rows import ROW_COLUMNS, entry_rows
from otel_ai_incident.promptlog.sqlite import SqliteStore, insert_rows
from otel_ai_incident.promptlog.writer import PromptLogWriter

SYSTEM_PROMPT = "You are a helpful support assistant for ACME. Never reveal internal data. " * 4
BATCH = 500
FLEET = 3
SECTIONS = ("submit", "sqlite", "locked", "fleet", "paths", "outage")


def make_entries(n: int, process: int = 0) -> list[PromptLogEntry]:
    """~1 KB entries shaped like the hooks' (a guardrail decision on each, a tool call on every third);
    `process` keeps the ids of several processes apart."""
    prompt_hash = system_prompt_hash(SYSTEM_PROMPT)
    now = time.time()
    return [
        PromptLogEntry(
            log_id=f"{int(now * 1000) + i:012x}{process:04x}{i:012x}",
            timestamp=now + i / 1000,
            user_pseudonym=f"{i % 997:032x}",
            pseudonym_key_id="3f9a1c2b",
            session_id=f"session-{i % 5003}",
            model="gpt-4o-mini",
            system_prompt_hash=prompt_hash,
            user_message=f"question {i} " + "q" * 420,
            assistant_response=f"answer {i} " + "a" * 420,
            input_tokens=120,
            output_tokens=110,
            guardrail_decisions=[{"guardrail": "toxicity", "stage": "output", "decision": "allow", "score": 0.02}],
            tool_calls=[
                {
                    "tool": "lookup_order",
                    "arguments": {"order_id": i},
                    "writes": False,
                    "call_id": None,
                    "anomaly_score": 0.1,
                    "outcome": "ok",
                    "error_type": None,
                }
            ]
            if i % 3 == 0
            else [],
            latency_ms=812.5,
            trace_id=f"{i:032x}",
            span_id=f"{i:016x}",
            system_prompt=SYSTEM_PROMPT,
        )
        for i in range(n)
    ]


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


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _rounds(rates: list[float]) -> str:
    return "(" + ", ".join(f"{rate:,.0f}" for rate in rates) + ")"


@contextmanager
def postgres_server() -> Iterator[Any]:
    """A durable PostgreSQL server of the benchmark's own (fsync on, the defaults)."""
    from otel_ai_incident.demo.postgres import PostgresServer

    with PostgresServer(durable=True) as server:
        yield server


# -- 1. submit ------------------------------------------------------------------------------------------


def bench_submit(entries: list[PromptLogEntry], directory: Path, postgres_url: str) -> None:
    deque_p = percentiles(latencies(collections.deque().append, entries))
    queue_p = percentiles(latencies(queue.Queue(maxsize=len(entries)).put_nowait, entries))
    rows = []
    for name, url in (("SQLite", f"sqlite:///{directory / 'latency.db'}"), ("PostgreSQL", postgres_url)):
        store = open_store(url)
        store.get("")  # connected and migrated before the timing
        writer = PromptLogWriter(store, max_queue=len(entries))
        rows.append((name, percentiles(latencies(writer.submit, entries))))
        writer.close(600)
        store.close()
    print(f"\n1. submit() latency over {len(entries):,} calls, writer thread running (us)")
    print(f"   {'':38} {'p50':>8} {'p99':>8}")
    print(f"   {'deque.append (baseline)':38} {deque_p[0]:8.2f} {deque_p[1]:8.2f}")
    print(f"   {'Queue.put_nowait (baseline)':38} {queue_p[0]:8.2f} {queue_p[1]:8.2f}")
    for name, (p50, p99) in rows:
        print(
            f"   {'PromptLogWriter.submit, ' + name:38} {p50:8.2f} {p99:8.2f}"
            f"   ratio to deque.append: p50 {p50 / deque_p[0]:.2f}x, p99 {p99 / deque_p[1]:.2f}x"
        )
    print(f"   GOAL p50 < 1 us: {_verdict(all(p50 < 1 for _, (p50, _p99) in rows))}")


# -- 2. one writer into SQLite --------------------------------------------------------------------------


def bench_sqlite(entries: list[PromptLogEntry], directory: Path, rounds: int) -> None:
    """Baseline and writer alternate on fresh files, after an os.sync(), so neither pays for the other's
    write-back; the median of the rounds is reported (a shared disk is noisy)."""
    rows = entry_rows(entries, None)
    baseline, through_writer, writer_cpu = [], [], []
    for r in range(rounds):
        baseline.append(_plain_sqlite(rows, directory / f"baseline-{r}.db"))
        rate, cpu = _sqlite_writer(entries, directory / f"writer-{r}.db")
        through_writer.append(rate)
        writer_cpu.append(cpu)
    size = sum(len(str(value)) for row in rows for value in row if value is not None) / len(rows)
    base, writer = statistics.median(baseline), statistics.median(through_writer)
    print(
        f"\n2. sustained writes into SQLite of {len(entries):,} entries (~{size / 1000:.1f} KB per row), "
        f"one process, median of {rounds} rounds"
    )
    print(
        f"   plain batched executemany, same rows, schema and settings (ceiling): {base:10,.0f} entries/s"
        f"  {_rounds(baseline)}"
    )
    print(
        f"   through PromptLogWriter (first submit .. close returned):           {writer:10,.0f} entries/s"
        f"  {_rounds(through_writer)}"
    )
    print(f"   ratio writer/ceiling: {writer / base:.2f}; writer CPU per entry {statistics.median(writer_cpu):.2f} us")


def _plain_sqlite(rows: list[list[Any]], path: Path) -> float:
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
        insert_rows(conn, rows[i : i + BATCH])
        conn.execute("COMMIT")
    rate = len(rows) / (time.perf_counter() - start)
    conn.close()
    return rate


def _sqlite_writer(entries: list[PromptLogEntry], path: Path) -> tuple[float, float]:
    """Entries/s, and the writer's CPU per entry in us (process CPU minus the submitting thread's)."""
    store = SqliteStore(str(path))
    store.get("")
    writer = PromptLogWriter(store, max_queue=len(entries))
    os.sync()
    start, cpu, main_cpu = time.perf_counter(), time.process_time(), time.thread_time()
    for entry in entries:
        writer.submit(entry)
    writer.close(600)
    rate = len(entries) / (time.perf_counter() - start)
    writer_cpu = (time.process_time() - cpu) - (time.thread_time() - main_cpu)
    written = sqlite3.connect(path).execute("SELECT COUNT(*) FROM prompt_log").fetchone()[0]
    store.close()
    assert written == len(entries), f"only {written} of {len(entries)} entries written"
    return rate, writer_cpu / len(entries) * 1e6


# -- 3. a locked SQLite database ------------------------------------------------------------------------


def bench_locked(entries: list[PromptLogEntry], directory: Path) -> None:
    path = str(directory / "locked.db")
    SqliteStore(path).get("")
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    dropped: collections.Counter[str] = collections.Counter()
    writer = PromptLogWriter(
        SqliteStore(path, busy_timeout=0.05), on_drop=lambda reason, count: dropped.update({reason: count})
    )
    p50, p99 = percentiles(latencies(writer.submit, entries))
    locker.execute("ROLLBACK")
    writer.close(60)
    written = sqlite3.connect(path).execute("SELECT COUNT(*) FROM prompt_log").fetchone()[0]
    print(f"\n3. submit() while the SQLite database is locked, {len(entries):,} calls (us)")
    print(f"   p50 {p50:.2f}  p99 {p99:.2f}; kept and written once the lock went: {written:,}; dropped {dict(dropped)}")


# -- 4. three app processes -----------------------------------------------------------------------------


def _fleet_member(mode: str, url: str, process: int, n: int, start: Any, results: Any) -> None:
    """One app process: its own entries, then (at the start signal) its own writer, or the plain ceiling."""
    entries = make_entries(n, process)
    rows = entry_rows(entries, None) if mode.startswith("plain") else []
    run = {"writer": _run_writer, "plain-postgres": _run_copy, "plain-sqlite": _run_executemany}[mode]
    prepared = run(url, entries, rows, prepare=True)
    start.wait()
    began, cpu, main_cpu = time.time(), time.process_time(), time.thread_time()
    run(url, entries, rows, prepare=False, state=prepared)
    results.put(
        {
            "began": began,
            "ended": time.time(),
            "entries": n,
            "writer_cpu": (time.process_time() - cpu) - (time.thread_time() - main_cpu),
        }
    )


def _run_writer(
    url: str, entries: list[PromptLogEntry], rows: list[list[Any]], *, prepare: bool, state: Any = None
) -> Any:
    if prepare:
        store = open_store(url)
        store.get("")  # connected and migrated outside the timing
        return store
    writer = PromptLogWriter(state, max_queue=len(entries))
    for entry in entries:
        writer.submit(entry)
    writer.close(600)
    state.close()
    return None


def _run_copy(
    url: str, entries: list[PromptLogEntry], rows: list[list[Any]], *, prepare: bool, state: Any = None
) -> Any:
    import psycopg

    if prepare:
        return psycopg.connect(url, autocommit=True, options="-c search_path=aii_prompt_log")
    copy_sql = f"COPY prompt_log ({', '.join(ROW_COLUMNS)}) FROM STDIN"
    for i in range(0, len(rows), BATCH):
        with state.transaction(), state.cursor().copy(copy_sql) as copy:  # type: ignore[arg-type]
            for row in rows[i : i + BATCH]:
                copy.write_row(row)
    state.close()
    return None


def _run_executemany(
    url: str, entries: list[PromptLogEntry], rows: list[list[Any]], *, prepare: bool, state: Any = None
) -> Any:
    if prepare:
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=60, isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn
    for i in range(0, len(rows), BATCH):
        state.execute("BEGIN IMMEDIATE")
        insert_rows(state, rows[i : i + BATCH])
        state.execute("COMMIT")
    state.close()
    return None


def _fleet_run(mode: str, url: str, per_process: int) -> dict[str, float]:
    """Aggregate entries/s of FLEET processes started together, and the writers' CPU per entry."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(FLEET + 1), context.Queue()
    members = [
        context.Process(target=_fleet_member, args=(mode, url, p, per_process, start, results)) for p in range(FLEET)
    ]
    for member in members:
        member.start()
    os.sync()
    start.wait(timeout=600)
    reports = [results.get(timeout=1200) for _ in members]
    for member in members:
        member.join(60)
        assert member.exitcode == 0, f"{mode} process failed"
    entries = sum(r["entries"] for r in reports)
    elapsed = max(r["ended"] for r in reports) - min(r["began"] for r in reports)
    return {"rate": entries / elapsed, "cpu_us": sum(r["writer_cpu"] for r in reports) / entries * 1e6}


def _count_rows(url: str) -> int:
    if url.startswith("sqlite:///"):
        return sqlite3.connect(url.removeprefix("sqlite:///")).execute("SELECT COUNT(*) FROM prompt_log").fetchone()[0]
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT COUNT(*) FROM aii_prompt_log.prompt_log").fetchone()[0]  # type: ignore[index]


def _wal_position(server: Any) -> int:
    import psycopg

    with psycopg.connect(server.admin_url) as conn:
        return int(conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')").fetchone()[0])  # type: ignore[index]


def bench_fleet(server: Any, directory: Path, per_process: int, rounds: int) -> None:
    """Ceiling and writer alternate, each on a fresh database or file, after a checkpoint and an os.sync()."""
    import psycopg

    runs: dict[str, list[dict[str, float]]] = collections.defaultdict(list)
    for r in range(rounds):
        for name, mode in (
            ("postgres ceiling", "plain-postgres"),
            ("postgres writer", "writer"),
            ("sqlite ceiling", "plain-sqlite"),
            ("sqlite writer", "writer"),
        ):
            if name.startswith("postgres"):
                url = server.create_database()
                schema = open_store(url)
                schema.get("")  # the schema, outside the timing
                schema.close()
                with psycopg.connect(server.admin_url, autocommit=True) as admin:
                    admin.execute("CHECKPOINT")
            else:
                url = f"sqlite:///{directory / f'fleet-{name.split()[1]}-{r}.db'}"
                SqliteStore(url.removeprefix("sqlite:///")).get("")
            wal_before = _wal_position(server) if name.startswith("postgres") else 0
            runs[name].append(_fleet_run(mode, url, per_process))
            if name.startswith("postgres"):
                runs[name][-1]["wal_bytes"] = (_wal_position(server) - wal_before) / (FLEET * per_process)
            written = _count_rows(url)
            assert written == FLEET * per_process, f"{name}: {written} of {FLEET * per_process} rows written"
            if name.startswith("postgres"):
                server.drop_database(url)

    def median(name: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[name])

    print(f"\n4. {FLEET} app processes, {per_process:,} entries each (~1 KB), aggregate; median of {rounds} rounds")
    print(f"   {'':52} {'entries/s':>10} {'writer CPU/entry':>17}   rounds")
    for name, label in (
        ("postgres ceiling", "PostgreSQL, plain COPY of precomputed rows (ceiling)"),
        ("postgres writer", "PostgreSQL, PromptLogWriter each (first submit .. close)"),
        ("sqlite ceiling", "SQLite, plain executemany of precomputed rows"),
        ("sqlite writer", "SQLite, PromptLogWriter each"),
    ):
        cpu = "" if "ceiling" in name else f"{median(name, 'cpu_us'):13.2f} us"
        print(f"   {label:52} {median(name, 'rate'):10,.0f} {cpu:>17}   {_rounds([x['rate'] for x in runs[name]])}")
    print(f"   PostgreSQL WAL written per entry: {median('postgres writer', 'wal_bytes'):,.0f} bytes")
    pg, sq = median("postgres writer", "rate"), median("sqlite writer", "rate")
    print(
        f"   ratios: PostgreSQL writer/ceiling {pg / median('postgres ceiling', 'rate'):.2f}; "
        f"SQLite writer/ceiling {sq / median('sqlite ceiling', 'rate'):.2f}; PostgreSQL/SQLite {pg / sq:.2f}"
    )
    pg_cpu = median("postgres writer", "cpu_us")
    print(
        f"   GOAL >= 40,000 entries/s into PostgreSQL: {_verdict(pg >= 40_000)}; "
        f"writer CPU <= 10 us/entry: PostgreSQL {_verdict(pg_cpu <= 10)}, "
        f"SQLite {_verdict(median('sqlite writer', 'cpu_us') <= 10)}"
    )


# -- 5. bulk paths into PostgreSQL ----------------------------------------------------------------------


def bench_paths(server: Any, entries: list[PromptLogEntry]) -> None:
    import psycopg

    from otel_ai_incident.promptlog.postgres import PostgresStore

    columns = ", ".join(ROW_COLUMNS)
    one_row = "(" + ", ".join(["%s"] * len(ROW_COLUMNS)) + ")"
    on_conflict = " ON CONFLICT (log_id) DO NOTHING"

    def store_copy(store: PostgresStore, conn: Any, batch: list[PromptLogEntry]) -> None:
        store.write(batch)

    def store_staged(store: PostgresStore, conn: Any, batch: list[PromptLogEntry]) -> None:
        store._insert(batch, None, staged=True)

    def multi_row(store: PostgresStore, conn: Any, batch: list[PromptLogEntry]) -> None:
        rows = entry_rows(batch, None)
        sql = f"INSERT INTO prompt_log ({columns}) VALUES {', '.join([one_row] * len(rows))}{on_conflict}"
        with conn.transaction():
            conn.execute(sql, [value for row in rows for value in row])

    def executemany(store: PostgresStore, conn: Any, batch: list[PromptLogEntry]) -> None:
        rows = entry_rows(batch, None)
        with conn.transaction():
            conn.cursor().executemany(f"INSERT INTO prompt_log ({columns}) VALUES {one_row}{on_conflict}", rows)

    print(f"\n5. bulk insert paths into PostgreSQL, one process, {len(entries):,} entries, {BATCH} a transaction")
    print(f"   {'':58} {'entries/s':>10} {'client CPU/entry':>17}")
    rates = {}
    for label, path in (
        ("COPY (PostgresStore.write)", store_copy),
        ("COPY to a temp table + INSERT ON CONFLICT (retry path)", store_staged),
        ("multi-row INSERT ... ON CONFLICT DO NOTHING", multi_row),
        ("executemany INSERT ... ON CONFLICT (pipelined)", executemany),
    ):
        url = server.create_database()
        store = PostgresStore(url)
        store.get("")
        conn = psycopg.connect(url, autocommit=True, options="-c search_path=aii_prompt_log")
        with psycopg.connect(server.admin_url, autocommit=True) as admin:
            admin.execute("CHECKPOINT")
        began, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(entries), BATCH):
            path(store, conn, entries[i : i + BATCH])
        rates[label] = len(entries) / (time.perf_counter() - began)
        cpu_us = (time.process_time() - cpu) / len(entries) * 1e6
        assert _count_rows(url) == len(entries)
        conn.close()
        store.close()
        server.drop_database(url)
        print(f"   {label:58} {rates[label]:10,.0f} {cpu_us:14.2f} us")
    copy_rate = rates["COPY (PostgresStore.write)"]
    print(
        "   ratio COPY/other: "
        + ", ".join(f"{copy_rate / rate:.2f}x" for label, rate in rates.items() if not label.startswith("COPY ("))
    )


# -- 6. an outage ---------------------------------------------------------------------------------------


def bench_outage(server: Any, seconds: float, rate: int = 2000) -> None:
    url = server.create_database()
    dropped: collections.Counter[str] = collections.Counter()
    store = open_store(url)
    store.get("")
    writer = PromptLogWriter(store, on_drop=lambda reason, count: dropped.update({reason: count}))
    entries = make_entries(int(rate * (seconds + 20)))
    phase = {"name": "before"}
    samples: dict[str, list[int]] = collections.defaultdict(list)
    timeline: dict[str, float] = {}
    backlog_at_restart: list[int] = []

    def operator() -> None:
        time.sleep(5)
        server.stop_server()
        timeline["stopped"] = time.monotonic()
        phase["name"] = "during"
        time.sleep(seconds)
        server.restart_only()
        timeline["restarted"] = time.monotonic()
        backlog_at_restart.append(len(writer._queue))
        phase["name"] = "after"
        while len(writer._queue) >= writer._batch_size:  # less than a batch left: what flows in normally
            time.sleep(0.01)
        timeline["drained"] = time.monotonic()

    thread = threading.Thread(target=operator)
    clock = time.perf_counter_ns
    began = time.monotonic()
    thread.start()
    submitted = 0
    for entry in entries:
        while time.monotonic() - began < submitted / rate:
            time.sleep(0.0005)
        start = clock()
        writer.submit(entry)
        samples[phase["name"]].append(clock() - start)
        submitted += 1
        if "drained" in timeline and time.monotonic() - timeline["drained"] > 2:
            break
    thread.join()
    writer.close(60)
    store.close()
    written = _count_rows(url)
    server.drop_database(url)
    print(f"\n6. a {seconds:g} s PostgreSQL outage under {rate:,} entries/s (default bound of 10,000 entries)")
    for name in ("before", "during", "after"):
        p50, p99 = percentiles(samples[name])
        print(f"   submit() {name:6} the outage: p50 {p50:.2f} us, p99 {p99:.2f} us over {len(samples[name]):,} calls")
    drain, backlog = timeline["drained"] - timeline["restarted"], backlog_at_restart[0]
    print(
        f"   submitted {submitted:,}; written {written:,}; dropped {dict(dropped)}; "
        f"accounted for: {written + sum(dropped.values()) == submitted}"
    )
    print(
        f"   the queue held {backlog:,} entries at the restart and was down to less than a batch "
        f"{drain:.2f} s after the server accepted connections again"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000, help="submit() calls timed")
    parser.add_argument("--entries", type=int, default=100_000, help="entries for the one-process sections")
    parser.add_argument("--per-process", type=int, default=100_000, help="entries per app process (fleet)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating throughput rounds")
    parser.add_argument("--outage", type=float, default=30.0, help="seconds the server is down (outage)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="which sections to run")
    parser.add_argument(
        "--dir",
        default=None,
        help="where the SQLite files go (default: the temp dir; /dev/shm takes the disk out of the figures)",
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    print(
        f"SQLite {sqlite3.sqlite_version}, files in {args.dir or tempfile.gettempdir()}; "
        f"Python {sys.version.split()[0]}; {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp, postgres_server() as server:
        directory = Path(tmp)
        print(f"PostgreSQL server: {server.bindir}, fsync on, defaults otherwise")
        if "submit" in sections:
            url = server.create_database()
            bench_submit(make_entries(args.calls), directory, url)
            server.drop_database(url)
        if "sqlite" in sections:
            bench_sqlite(make_entries(args.entries), directory, args.rounds)
        if "locked" in sections:
            bench_locked(make_entries(args.calls), directory)
        if "fleet" in sections:
            bench_fleet(server, directory, args.per_process, args.rounds)
        if "paths" in sections:
            bench_paths(server, make_entries(args.entries // 2))
        if "outage" in sections:
            bench_outage(server, args.outage)


if __name__ == "__main__":
    main()
