"""What the prompt-log tests share: entries, keys, a settable clock, and one harness per backend.

A harness opens stores on one database the way a process of the app would (`open`, through `open_store`),
and does what only that backend can: make its schema look newer than the package, and show what is left of
a text where the backend keeps it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from otel_ai_incident.promptlog import postgres as pg_backend
from otel_ai_incident.promptlog import sqlite as sqlite_backend
from otel_ai_incident.promptlog.backends import open_store
from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.promptlog.store import PromptLogStore, StoredEntry

T0 = 1_700_000_000.0
OLD_KEY = b"old-key-0123456789abcdef"
NEW_KEY = b"new-key-0123456789abcdef"


def make_entry(i: int, **fields: object) -> PromptLogEntry:
    """Entry number i, one second after entry i - 1; keyword arguments override any field."""
    values: dict[str, object] = {
        "log_id": f"{int(T0 * 1000) + i:012x}{i:016x}",
        "timestamp": T0 + i,
        "user_pseudonym": f"user-{i % 3}",
        "pseudonym_key_id": "k1",
        "session_id": f"session-{i % 4}",
        "model": "gpt-4o-mini",
        "system_prompt_hash": None,
        "user_message": f"question {i}",
        "assistant_response": f"answer {i}",
    }
    values.update(fields)
    return PromptLogEntry(**values)  # type: ignore[arg-type]


def ids(entries: Iterable[StoredEntry]) -> list[str]:
    return [stored.entry.log_id for stored in entries]


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def wait_child(pid: int, timeout: float) -> int:
    """The exit code of a forked child, killing it if it hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child hung")


class SqliteBackend:
    name = "sqlite"

    def __init__(self, directory: Path) -> None:
        self.path = directory / "log.db"
        self.url = f"sqlite:///{self.path}"

    def open(self, **options: Any) -> PromptLogStore:
        return open_store(self.url, **options)

    def make_schema_too_new(self) -> None:
        with sqlite3.connect(self.path) as conn:
            conn.execute(f"PRAGMA user_version = {sqlite_backend.SCHEMA_VERSION + 1}")

    def holds_text(self, text: str) -> bool:
        """Whether the text is anywhere in the database's files (the file and its WAL), read as raw bytes."""
        files = (self.path, Path(f"{self.path}-wal"))
        return text.encode() in b"".join(p.read_bytes() for p in files if p.exists())


class PostgresBackend:
    name = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url

    def open(self, **options: Any) -> PromptLogStore:
        return open_store(self.url, **options)

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(statement, params)  # type: ignore[arg-type]  # the tests' own SQL
            return cursor.fetchall() if cursor.description else []

    def make_schema_too_new(self) -> None:
        schema = pg_backend.SCHEMA
        self.sql(f"CREATE SCHEMA {schema}")
        self.sql(f"CREATE TABLE {schema}.schema_version (version integer NOT NULL)")
        self.sql(f"INSERT INTO {schema}.schema_version VALUES (%s)", pg_backend.SCHEMA_VERSION + 1)

    def holds_text(self, text: str) -> bool:
        """Whether any row of any of the store's tables shows the text through SQL, or the table still has
        dead row versions (VACUUM not run since rows went), which hold it for whoever reads the files."""
        schema = pg_backend.SCHEMA
        tables = [name for (name,) in self.sql("SELECT tablename FROM pg_tables WHERE schemaname = %s", schema)]
        visible = any(
            self.sql(f"SELECT 1 FROM {schema}.{table} t WHERE strpos(t::text, %s) > 0 LIMIT 1", text)
            for table in tables
        )
        [(vacuumed,)] = self.sql(
            "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE schemaname = %s AND relname = 'prompt_log'",
            schema,
        )
        return visible or not vacuumed
