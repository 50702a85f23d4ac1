"""One way to run a store's SQL on SQLite or PostgreSQL, so a store's logic is written once.

A store that needs nothing beyond portable SQL (ON CONFLICT, RETURNING, transactions; both engines have
them) writes its queries once with `%s` placeholders against a `SqlDatabase`, and each backend module only
supplies its schema: `SqliteDatabase` turns the placeholders into `?` and serialises writers with BEGIN
IMMEDIATE; `PostgresSqlDatabase` runs them on a pooled connection. What the engines do differently is said
here once: `lock` (an advisory lock in PostgreSQL; SQLite's write transaction already excludes every
other writer) and `skip_locked` (row claims that do not wait for each other), which `claim_rows` uses for
the work queues (the receiver's inbox, the incident store's outbox).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from otel_ai_incident.storage.sqlite import connect, migrate, sqlite_path, write_transaction
from otel_ai_incident.storage.urls import is_postgres_url, is_sqlite_url, unsupported

Params = Sequence[Any]


class Cursor(Protocol):
    rowcount: int

    def execute(self, query: str, params: Params = ()) -> Cursor: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class SqlDatabase(Protocol):
    """What a store's portable SQL runs on."""

    #: Appended to a SELECT that claims rows, so concurrent claimers take different rows without waiting.
    skip_locked: str

    def transaction(self) -> Any:
        """`with db.transaction() as cur:` one write transaction, committed at the end, rolled back if the
        block raises. Writers of other processes are serialised as far as the engine needs."""

    def read(self) -> Any:
        """`with db.read() as cur:` a consistent snapshot for several reads."""

    def lock(self, cur: Cursor, name: str) -> None:
        """Inside a transaction: hold an exclusive lock on `name` until it ends (a no-op where the
        transaction itself already excludes every other writer)."""

    def close(self) -> None: ...


class _SqliteCursor:
    """A sqlite3 cursor taking `%s` placeholders."""

    __slots__ = ("_cur",)

    def __init__(self, cur: sqlite3.Cursor) -> None:
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    def execute(self, query: str, params: Params = ()) -> _SqliteCursor:
        self._cur.execute(query.replace("%s", "?"), params)
        return self

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall()


class SqliteDatabase:
    """One WAL connection shared by the store's threads under a lock, migrated at open."""

    skip_locked = ""

    def __init__(
        self, path: str | Path, component: str, migrations: Sequence[Sequence[str]], *, durable: bool = True
    ) -> None:
        self._lock = threading.Lock()
        self._conn = connect(path, durable=durable)
        try:
            migrate(self._conn, component, migrations)
        except BaseException:
            self._conn.close()
            raise

    @contextmanager
    def transaction(self) -> Iterator[_SqliteCursor]:
        with write_transaction(self._conn, self._lock) as cur:
            yield _SqliteCursor(cur)

    @contextmanager
    def read(self) -> Iterator[_SqliteCursor]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN")
            try:
                yield _SqliteCursor(cur)
            finally:
                cur.execute("COMMIT")

    def lock(self, cur: Cursor, name: str) -> None:
        """BEGIN IMMEDIATE already holds the database's only write lock."""

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresSqlDatabase:
    """Statements on a pooled connection of a `PostgresDatabase` (imported lazily: the `postgres` extra)."""

    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, database: Any) -> None:
        self.database = database

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self.database.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        with self.database.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield cur

    def lock(self, cur: Cursor, name: str) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (name,))

    def close(self) -> None:
        self.database.close()


def claim_rows(
    db: SqlDatabase,
    cur: Cursor,
    table: str,
    *,
    unfinished: str,
    params: Params = (),
    owner: str,
    lease_s: float,
    now: float,
    limit: int,
    returning: str,
) -> list[Any]:
    """Inside a transaction: take up to `limit` rows of a work queue (oldest `id` first) for `owner` until
    `now + lease_s`, counting the attempt, and return their `returning` columns.

    The table has `id`, `claimed_by`, `lease_until` and `attempts` columns; a row can be claimed when it
    matches `unfinished` and its lease ran out (a holder that died, or a retry whose `lease_until` was set to
    when it comes due); `params` fill the placeholders of `unfinished`. With PostgreSQL, concurrent claimers
    skip each other's rows instead of waiting.
    """
    return cur.execute(
        f"UPDATE {table} SET claimed_by = %s, lease_until = %s, attempts = attempts + 1 "
        f"WHERE id IN (SELECT id FROM {table} "
        f"WHERE {unfinished} AND (lease_until IS NULL OR lease_until <= %s) "
        f"ORDER BY id LIMIT %s{db.skip_locked}) "
        f"RETURNING {returning}",
        (owner, now + lease_s, *params, now, limit),
    ).fetchall()


def open_sql_database(
    url: str,
    *,
    store: str,
    component: str,
    sqlite_migrations: Sequence[Sequence[str]],
    postgres_migrations: Sequence[Sequence[str]],
    durable: bool = True,
) -> SqlDatabase:
    """The `SqlDatabase` a store URL names: `sqlite:///...` (the store's tables under `component`) or
    `postgresql://...` (the PostgreSQL schema `aii_<component>`). `durable=False` does not wait for each
    commit to reach the disk (SQLite: no fsync; PostgreSQL: asynchronous commit), for stores whose writes are
    replayed idempotently when the last ones are lost."""
    if is_sqlite_url(url):
        return SqliteDatabase(sqlite_path(url), component, sqlite_migrations, durable=durable)
    if is_postgres_url(url):
        from otel_ai_incident.storage.postgres import PostgresDatabase

        return PostgresSqlDatabase(
            PostgresDatabase(
                url, store=store, schema=f"aii_{component}", migrations=postgres_migrations, durable=durable
            )
        )
    raise unsupported(store, url)
