"""The prompt-log writer: batches, drops and their reasons, retries while the store is unavailable (down to a
real PostgreSQL server stopped and restarted mid-traffic), and real processes (SIGKILL, two writers, fork)."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from otel_ai_incident.demo.postgres import PostgresServer
from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.promptlog.postgres import PostgresStore
from otel_ai_incident.promptlog.retention import SECONDS_PER_DAY, Retention
from otel_ai_incident.promptlog.sqlite import SqliteStore
from otel_ai_incident.promptlog.store import LogQuery
from otel_ai_incident.promptlog.writer import PromptLogWriter
from otel_ai_incident.storage.errors import StoreUnavailableError
from processes import ROOT, clean_env
from promptlog_support import T0, FakeClock, make_entry, wait_child

CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
PR_CAPBSET_DROP = 24


class Drops:
    """An on_drop callback that remembers what it was told."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, reason: str, count: int) -> None:
        self.counts[reason] += count


class RecordingStore:
    """Stands in for a store: records batch sizes, and can hold the writer inside write()."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def write(self, entries: Sequence[PromptLogEntry], *, scrubbed_at: float | None = None) -> None:
        self.entered.set()
        self.release.wait(10)
        self.batches.append(len(entries))


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def count_rows(path: str) -> int:
    """Rows in the prompt log; 0 while the file or its schema does not exist yet."""
    try:
        return sqlite3.connect(path).execute("SELECT COUNT(*) FROM prompt_log").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


# -- in one process -------------------------------------------------------------------------------------


def test_writes_in_batches_of_at_most_batch_size() -> None:
    store, drops = RecordingStore(), Drops()
    writer = PromptLogWriter(store, on_drop=drops, batch_size=500, flush_interval=30)  # type: ignore[arg-type]
    for i in range(1200):
        writer.submit(make_entry(i))
    writer.close()
    assert sum(store.batches) == 1200 and max(store.batches) == 500
    assert not drops.counts


def test_an_entry_is_written_within_the_flush_interval(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "log.db"))
    writer = PromptLogWriter(store, flush_interval=0.05)
    writer.submit(make_entry(1))
    wait_for(lambda: store.get(make_entry(1).log_id) is not None, timeout=2)
    writer.close()


def test_a_full_queue_drops_and_counts_without_blocking() -> None:
    store, drops = RecordingStore(), Drops()
    store.release.clear()
    writer = PromptLogWriter(store, on_drop=drops, max_queue=10, flush_interval=0.01)  # type: ignore[arg-type]
    writer.submit(make_entry(0))
    assert store.entered.wait(5)
    for i in range(1, 201):
        writer.submit(make_entry(i))
    store.release.set()
    writer.close()
    assert drops.counts == {"queue_full": 190}
    assert sum(store.batches) == 11


def test_a_locked_database_keeps_the_entries_until_the_lock_goes_and_submit_stays_fast(tmp_path: Path) -> None:
    path = str(tmp_path / "log.db")
    store = SqliteStore(path, busy_timeout=0.05)
    store.write([make_entry(0)])
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    drops = Drops()
    writer = PromptLogWriter(store, on_drop=drops, flush_interval=0.01, retry_interval=0.02, max_retry_interval=0.1)
    started = time.perf_counter()
    for i in range(1, 2001):
        writer.submit(make_entry(i))
    mean = (time.perf_counter() - started) / 2000
    time.sleep(0.3)  # several attempts fail meanwhile
    assert count_rows(path) == 1
    locker.execute("ROLLBACK")
    writer.submit(make_entry(5000))
    writer.close()
    assert mean < 100e-6, f"submit took {mean * 1e6:.1f} us on average"
    assert not drops.counts
    assert count_rows(path) == 2002


class UnavailableStore(RecordingStore):
    """A store that is unavailable (as a database restarting is) until `available` is set; records attempts."""

    def __init__(self, failures: int | None = None) -> None:
        super().__init__()
        self.available = threading.Event()
        self.failures = failures
        self.attempts: list[float] = []
        self.written: list[str] = []

    def write(self, entries: Sequence[PromptLogEntry], *, scrubbed_at: float | None = None) -> None:
        self.attempts.append(time.monotonic())
        if self.failures is not None and len(self.attempts) > self.failures:
            self.available.set()
        if not self.available.is_set():
            raise StoreUnavailableError("prompt log at postgresql://db/log: connection refused")
        self.written.extend(entry.log_id for entry in entries)
        super().write(entries)


def test_an_unavailable_store_gets_the_same_batch_again_after_growing_pauses() -> None:
    store, drops = UnavailableStore(failures=4), Drops()
    writer = PromptLogWriter(store, on_drop=drops, batch_size=50, flush_interval=0.01, retry_interval=0.05)  # type: ignore[arg-type]
    for i in range(120):
        writer.submit(make_entry(i))
    wait_for(lambda: len(store.written) == 120)
    writer.close(10)
    assert store.written == [make_entry(i).log_id for i in range(120)]
    assert not drops.counts
    pauses = [later - earlier for earlier, later in zip(store.attempts[:4], store.attempts[1:5], strict=True)]
    for pause, expected in zip(pauses, (0.05, 0.1, 0.2, 0.4), strict=True):
        assert expected <= pause < expected + 0.05, pauses


def test_during_an_outage_the_queue_stays_bounded_and_what_does_not_fit_is_counted() -> None:
    store, drops = UnavailableStore(), Drops()
    writer = PromptLogWriter(
        store,
        on_drop=drops,
        max_queue=100,
        batch_size=10,
        flush_interval=0.005,  # type: ignore[arg-type]
        retry_interval=0.01,
        max_retry_interval=0.02,
    )
    started = time.perf_counter()
    for i in range(1000):
        writer.submit(make_entry(i))
        if i % 100 == 0:
            time.sleep(0.02)  # the writer fails a few attempts meanwhile
    mean = (time.perf_counter() - started - 0.2) / 1000
    wait_for(lambda: drops.counts["queue_full"] > 0)
    store.available.set()
    writer.close(10)
    kept = len(store.written)
    assert 100 <= kept <= 110  # the bound, plus the batch taken back after a failed attempt
    assert drops.counts == {"queue_full": 1000 - kept}
    assert store.written == sorted(store.written) and len(set(store.written)) == kept
    assert store.written[:100] == [make_entry(i).log_id for i in range(100)]  # the oldest were kept
    assert mean < 20e-6, f"submit took {mean * 1e6:.1f} us on average"


def test_close_stops_waiting_for_an_unavailable_store_and_counts_what_is_left() -> None:
    store, drops = UnavailableStore(), Drops()
    writer = PromptLogWriter(store, on_drop=drops, flush_interval=0.01, retry_interval=0.05)  # type: ignore[arg-type]
    for i in range(30):
        writer.submit(make_entry(i))
    started = time.monotonic()
    writer.close(0.5)
    assert time.monotonic() - started < 1.5
    assert drops.counts == {"store_unavailable": 30}
    assert len(store.attempts) >= 2


def test_after_close_entries_are_dropped_as_shutdown() -> None:
    drops = Drops()
    writer = PromptLogWriter(RecordingStore(), on_drop=drops)  # type: ignore[arg-type]
    writer.close()
    writer.submit(make_entry(1))
    assert drops.counts == {"shutdown": 1}


def test_a_failing_drop_callback_does_not_reach_the_caller(tmp_path: Path) -> None:
    def broken(reason: str, count: int) -> None:
        raise RuntimeError("metrics are down")

    writer = PromptLogWriter(SqliteStore(f"{tmp_path}/missing/log.db"), on_drop=broken, flush_interval=0.01)
    writer.submit(make_entry(1))
    writer.close()
    writer.submit(make_entry(2))


def test_scrub_at_write_redacts_before_insert(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "log.db"))
    writer = PromptLogWriter(store, redact=lambda text: text.replace("secret", "[REDACTED]"))
    writer.submit(make_entry(1, user_message="my secret", assistant_response=None))
    writer.close()
    stored = store.get(make_entry(1).log_id)
    assert stored is not None and stored.scrubbed_at is not None
    assert (stored.entry.user_message, stored.entry.assistant_response) == ("my [REDACTED]", None)


def test_a_failing_redactor_drops_rather_than_writing_unscrubbed_text(tmp_path: Path) -> None:
    def broken(text: str) -> str:
        raise RuntimeError("detector crashed")

    store, drops = SqliteStore(str(tmp_path / "log.db")), Drops()
    writer = PromptLogWriter(store, on_drop=drops, redact=broken)
    writer.submit(make_entry(1))
    writer.close()
    assert drops.counts == {"store_error": 1}
    assert list(store.query(LogQuery())) == []


def test_the_writer_thread_purges_past_retention_but_not_held_entries(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "log.db"))
    store.write([make_entry(i, timestamp=T0 - 60 * SECONDS_PER_DAY) for i in range(5)] + [make_entry(9)])
    store.flag_incident("INC-1", log_ids=[make_entry(0).log_id])
    retention = Retention(30, batch_size=2, clock=FakeClock(T0))
    writer = PromptLogWriter(store, retention=retention, flush_interval=0.01)
    wait_for(lambda: count_rows(store.path) == 2)
    writer.close()
    assert [s.entry.log_id for s in store.query(LogQuery())] == [make_entry(0).log_id, make_entry(9).log_id]


# -- real processes -------------------------------------------------------------------------------------

CHILD_PRELUDE = """
import json, sys, time
from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.promptlog.sqlite import SqliteStore
from otel_ai_incident.promptlog.writer import PromptLogWriter

def entry(prefix, i):
    return PromptLogEntry(log_id=f"{prefix}{i:020d}", timestamp=float(i), user_pseudonym="p", pseudonym_key_id="k",
                          session_id="s", model="m", system_prompt_hash=None, user_message="q" * 500,
                          assistant_response="a" * 500)

drops = {}
def on_drop(reason, count):
    drops[reason] = drops.get(reason, 0) + count
"""


def start_child(code: str, *args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD_PRELUDE + code, *args],
        cwd=ROOT,
        env=clean_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,  # type: ignore[call-overload]
    )


def finish(child: subprocess.Popen[str]) -> dict[str, object]:
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_sigkill_mid_stream_keeps_a_sound_file_with_every_committed_batch(tmp_path: Path) -> None:
    path = str(tmp_path / "log.db")
    child = start_child(
        """
writer = PromptLogWriter(SqliteStore(sys.argv[1]), batch_size=50, flush_interval=0.01, max_queue=10**7)
print("ready", flush=True)
i = 0
while True:
    writer.submit(entry("c", i))
    i += 1
    if i % 20 == 0:
        time.sleep(0.001)
""",
        path,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    wait_for(lambda: count_rows(path) > 1000, timeout=30)
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = [row[0] for row in conn.execute("SELECT log_id FROM prompt_log ORDER BY log_id")]
    assert len(stored) > 1000
    assert stored == [f"c{i:020d}" for i in range(len(stored))], "committed rows must be a gap-free prefix"


def test_two_writer_processes_share_one_file_without_loss(tmp_path: Path) -> None:
    path = str(tmp_path / "log.db")
    code = """
writer = PromptLogWriter(SqliteStore(sys.argv[1]), on_drop=on_drop, flush_interval=0.005, max_queue=10**6)
for i in range(5000):
    writer.submit(entry(sys.argv[2], i))
    if i % 100 == 0:
        time.sleep(0.002)
writer.close(30)
print(json.dumps(drops))
"""
    children = [start_child(code, path, prefix) for prefix in ("a", "b")]
    assert [finish(child) for child in children] == [{}, {}]
    assert count_rows(path) == 10_000
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_entries_queued_at_exit_are_flushed_by_the_atexit_hook(tmp_path: Path) -> None:
    path = str(tmp_path / "log.db")
    child = start_child(
        """
writer = PromptLogWriter(SqliteStore(sys.argv[1]), flush_interval=3600, batch_size=10**6)
for i in range(300):
    writer.submit(entry("x", i))
print("{}")
""",
        path,
    )
    finish(child)
    assert count_rows(path) == 300


def without_root_file_override() -> None:
    """In a child run as root: drop the capabilities that let root write where permissions say no, so a
    read-only directory is read-only to it too (dropped from the bounding set, they are gone after exec)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_a_read_only_directory_drops_with_store_error_and_submit_stays_fast(tmp_path: Path) -> None:
    directory = tmp_path / "read-only"
    directory.mkdir(mode=0o555)
    as_non_root = {"preexec_fn": without_root_file_override} if os.geteuid() == 0 else {}
    try:
        child = start_child(
            """
writer = PromptLogWriter(SqliteStore(sys.argv[1]), on_drop=on_drop, flush_interval=0.01)
started = time.perf_counter()
for i in range(2000):
    writer.submit(entry("r", i))
mean = (time.perf_counter() - started) / 2000
writer.close(10)
print(json.dumps({"drops": drops, "mean": mean}))
""",
            str(directory / "log.db"),
            **as_non_root,
        )
        result = finish(child)
    finally:
        directory.chmod(0o755)
    assert not (directory / "log.db").exists()
    assert result["drops"] == {"store_error": 2000}
    assert result["mean"] < 100e-6  # type: ignore[operator]


def test_a_forked_child_writes_through_its_own_thread(tmp_path: Path) -> None:
    """Forks land at varied moments of the parent's writing; without the writer's fork lock about one in
    seven children inherited a half-done transaction and lost its entry or hung."""
    for attempt in range(10):
        path = str(tmp_path / f"log-{attempt}.db")
        store = SqliteStore(path, busy_timeout=1)
        writer = PromptLogWriter(store, flush_interval=0.001)
        for i in range(200):
            writer.submit(make_entry(i))
        time.sleep(0.0005 * attempt)
        pid = os.fork()
        if pid == 0:  # the child: must not use the parent's connection or rely on its (absent) thread
            status = 1
            try:
                writer.submit(make_entry(1000))
                writer.close(5)
                status = 0 if store.get(make_entry(1000).log_id) is not None else 2
            finally:
                os._exit(status)
        exit_code = wait_child(pid, timeout=15)
        writer.close()
        assert exit_code == 0, f"attempt {attempt}: the child exited with {exit_code}"
        assert count_rows(path) == 201


def test_flush_returns_once_everything_submitted_is_in_the_store(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "log.db"))
    writer = PromptLogWriter(store, flush_interval=60.0)  # the timer alone would not write for a minute
    for i in range(1200):
        writer.submit(make_entry(i))
    assert writer.flush(timeout=10)
    assert sum(1 for _ in store.query(LogQuery())) == 1200
    writer.close()


# -- a real PostgreSQL server going away mid-traffic -----------------------------------------------------


def test_a_postgres_restart_mid_traffic_loses_nothing_within_the_bound(own_postgres: PostgresServer) -> None:
    """Traffic at up to ~2,000 entries/s; the server is stopped while 5,000 entries arrive (against a bound of
    3,000) and started again. Every entry the writer accepted is written exactly once; the rest is counted.
    Each phase is a number of entries, not of seconds, so a loaded machine that submits more slowly still
    offers the outage more than the queue holds."""
    url = own_postgres.create_database()
    store, drops = PostgresStore(url, connect_timeout_s=1), Drops()
    writer = PromptLogWriter(
        store,
        on_drop=drops,
        max_queue=3000,
        batch_size=100,
        flush_interval=0.01,
        retry_interval=0.05,
        max_retry_interval=0.5,
    )
    submitted = 0

    def traffic(entries: int) -> None:
        nonlocal submitted
        end = submitted + entries
        while submitted < end:
            for _ in range(10):
                writer.submit(make_entry(submitted, timestamp=T0 + submitted / 1000))
                submitted += 1
            time.sleep(0.005)

    traffic(2000)
    own_postgres.stop_server()
    traffic(5000)
    own_postgres.restart_only()
    traffic(2000)
    writer.close(30)
    store.close()
    import psycopg

    with psycopg.connect(url) as conn:
        [(written, distinct)] = conn.execute("SELECT count(*), count(DISTINCT log_id) FROM aii_prompt_log.prompt_log")
    assert set(drops.counts) == {"queue_full"}, drops.counts
    assert written == distinct == submitted - drops.counts["queue_full"]
    assert drops.counts["queue_full"] > 1000 and written > 3000 + 2 * 1500
