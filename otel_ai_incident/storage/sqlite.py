"""SQLite as the stores here use it: `sqlite:///` URLs, WAL connections shared by threads, write transactions.

The containment state, the incident store and the receiver's inbox each keep one connection that their
threads share under a lock; the prompt log has its own tuning (`promptlog.sqlite`) but the same URL form.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from otel_ai_incident.storage.errors import SchemaTooNewError
from otel_ai_incident.storage.private import create_private
from otel_ai_incident.storage.urls import SQLITE_SCHEME

__all__ = [
    "BUSY_TIMEOUT_S",
    "SQLITE_SCHEME",
    "connect",
    "immediate_transaction",
    "migrate",
    "sqlite_path",
    "write_transaction",
]

BUSY_TIMEOUT_S = 5.0


def sqlite_path(url: str) -> Path:
    """`sqlite:///relative.db` or `sqlite:////absolute.db` (SQLAlchemy's form) to a path."""
    if not url.startswith(SQLITE_SCHEME) or len(url) == len(SQLITE_SCHEME):
        raise ValueError(f"not a SQLite URL: {url!r} (expected sqlite:///path/to/file.db)")
    return Path(url[len(SQLITE_SCHEME) :])


def connect(path: str | Path, *, durable: bool = True) -> sqlite3.Connection:
    """A connection shared by threads (callers hold a lock) in WAL mode, so readers never block the writer.

    `durable` commits survive power loss (an fsync each, ~2 ms); the others survive a crashed process, and
    since the WAL is one append-only file a power cut loses only the newest of them, in order.
    """
    create_private(path)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    return conn


@contextmanager
def write_transaction(conn: sqlite3.Connection, lock: threading.Lock) -> Iterator[sqlite3.Cursor]:
    """One write transaction, holding SQLite's write lock from the start (BEGIN IMMEDIATE), so two writers
    never deadlock upgrading a read lock; rolled back if the block raises."""
    with lock, immediate_transaction(conn):
        yield conn.cursor()


def migrate(conn: sqlite3.Connection, component: str, migrations: Sequence[Sequence[str]]) -> int:
    """Bring one store's tables in a (possibly shared) file to the latest version; the version.

    Several stores may share a file (the receiver keeps its inbox beside its incidents), so each has its
    own row in `schema_versions` rather than the file-wide `user_version`. Step 1 of a store that existed
    before versioning uses IF NOT EXISTS, so files made then are adopted as they are. One write transaction:
    processes opening the file together migrate once.
    """
    with immediate_transaction(conn):
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        row = conn.execute("SELECT version FROM schema_versions WHERE component = ?", (component,)).fetchone()
        version = 0 if row is None else int(row[0])
        if version > len(migrations):
            raise SchemaTooNewError(
                f"{component}: schema version {version} is newer than this package's {len(migrations)}; "
                "upgrade otel-ai-incident before using this file"
            )
        for step in migrations[version:]:
            for statement in step:
                conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_versions VALUES (?, ?) "
            "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
            (component, len(migrations)),
        )
    return len(migrations)


@contextmanager
def immediate_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction on `conn` (BEGIN IMMEDIATE), for a caller already holding its connection's lock.

    A COMMIT that fails (a full disk) may leave the transaction open, and every later BEGIN would then
    fail: whatever fails, the transaction is rolled back if SQLite has not already done so.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
