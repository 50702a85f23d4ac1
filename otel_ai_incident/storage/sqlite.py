"""SQLite as the stores here use it: `sqlite:///` URLs, WAL connections shared by threads, write transactions.

The containment state, the incident store and the receiver's inbox each keep one connection that their
threads share under a lock; the prompt log has its own tuning (`promptlog.sqlite`) but the same URL form.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from otel_ai_incident.storage.urls import SQLITE_SCHEME

__all__ = ["BUSY_TIMEOUT_S", "SQLITE_SCHEME", "connect", "sqlite_path", "write_transaction"]

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
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    return conn


@contextmanager
def write_transaction(conn: sqlite3.Connection, lock: threading.Lock) -> Iterator[sqlite3.Cursor]:
    """One write transaction, holding SQLite's write lock from the start (BEGIN IMMEDIATE), so two writers
    never deadlock upgrading a read lock; rolled back if the block raises."""
    with lock:
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
