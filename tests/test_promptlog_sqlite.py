"""What only the SQLite prompt log does: URLs of files, the file's mode, WAL and its migrations, locks and fork.

Behaviour every backend shares is in test_promptlog_store.py.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from otel_ai_incident.promptlog.backends import open_store
from otel_ai_incident.promptlog.sqlite import MIGRATIONS, SCHEMA_VERSION, SqliteStore, migrate
from otel_ai_incident.promptlog.store import LogQuery
from otel_ai_incident.storage.errors import StoreUnavailableError
from promptlog_support import T0, make_entry, wait_child


@pytest.fixture
def store(tmp_path: Path):
    s = SqliteStore(str(tmp_path / "log.db"))
    yield s
    s.close()


def test_open_store_takes_a_relative_path_after_the_scheme(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///sub.db")
    store.write([make_entry(1)])
    store.close()
    assert (tmp_path / "sub.db").exists()
    assert isinstance(open_store(f"sqlite:///{tmp_path}/abs.db"), SqliteStore)


def test_opening_an_unwritable_location_fails_on_use_not_on_open(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/missing/dir/log.db")
    with pytest.raises(sqlite3.OperationalError):
        store.write([make_entry(1)])


def test_the_files_are_readable_by_their_owner_only(store: SqliteStore) -> None:
    umask = os.umask(0o022)  # the usual umask, which would make them world-readable
    try:
        store.write([make_entry(1)])
    finally:
        os.umask(umask)
    for path in (store.path, f"{store.path}-wal"):
        assert os.stat(path).st_mode & 0o777 == 0o600, path


def test_schema_is_versioned_indexed_and_in_wal_mode(store: SqliteStore) -> None:
    store.write([make_entry(1)])
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    indexes = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {
        "prompt_log_time",
        "prompt_log_session",
        "prompt_log_user",
        "prompt_log_model",
        "prompt_log_flagged",
        "prompt_log_incident",
    } <= indexes
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM prompt_log WHERE user_pseudonym IN ('a', 'b') AND timestamp >= 0"
    ).fetchall()
    assert "prompt_log_user" in str(plan)


def test_an_older_schema_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, MIGRATIONS[:1]) == 1
    conn.execute(
        "INSERT INTO prompt_log (log_id, timestamp, model, guardrail_decisions, tool_calls, outcome, refused) "
        "VALUES ('old', ?, 'm', '[]', '[]', 'ok', 0)",
        (T0,),
    )
    conn.close()
    store = SqliteStore(str(path))
    old = store.get("old")
    assert old is not None and old.incident_id is None and old.scrubbed_at is None
    assert store.flag_incident("INC-1", log_ids=["old"]) == 1
    assert store.get("old").incident_id == "INC-1"  # type: ignore[union-attr]
    store.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_lock_held_past_the_busy_timeout_is_unavailability_naming_the_log(tmp_path: Path) -> None:
    path = str(tmp_path / "log.db")
    store = SqliteStore(path, busy_timeout=0.05)
    store.write([make_entry(0)])
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    with pytest.raises(StoreUnavailableError, match=f"prompt log at {path}: database is locked"):
        store.write([make_entry(1)])
    locker.execute("ROLLBACK")
    store.write([make_entry(1)])
    assert len(list(store.query(LogQuery()))) == 2


def test_reclaim_empties_the_wal(store: SqliteStore) -> None:
    store.write([make_entry(i) for i in range(50)])
    assert os.path.getsize(f"{store.path}-wal") > 0
    store.reclaim()
    assert os.path.getsize(f"{store.path}-wal") == 0


def test_a_forked_child_gets_connections_of_its_own(store: SqliteStore) -> None:
    store.write([make_entry(0)])
    pid = os.fork()
    if pid == 0:  # must not touch the parent's connection (SQLite connections do not survive a fork)
        status = 1
        try:
            store.write([make_entry(1)])
            status = 0 if len(list(store.query(LogQuery()))) == 2 else 2
        finally:
            os._exit(status)
    assert wait_child(pid, timeout=15) == 0
    store.write([make_entry(2)])
    assert len(list(store.query(LogQuery()))) == 3
