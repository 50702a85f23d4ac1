"""PostgreSQL as the stores use it: a pool per store, the store's own schema, versioned migrations.

Each store lives in its own PostgreSQL schema (`aii_prompt_log`, `aii_containment`, ...), so every store of a
fleet can share one database and keep the short table names its SQLite twin uses. Connections are made on
first use, not when the store object is built (an app starting while the database is down keeps running and
retries), and again in a forked worker, whose parent's connections must not be shared. Errors that mean
"the database cannot be reached right now" come out as `StoreUnavailableError` naming the store, so callers
retry them and report them the same way whatever the driver said.

psycopg (3) and psycopg_pool are imported here only: the `postgres` extra, not a dependency of the apps that
keep to SQLite.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from otel_ai_incident.storage.errors import SchemaTooNewError, StoreUnavailableError
from otel_ai_incident.storage.urls import redacted

DEFAULT_CONNECT_TIMEOUT_S = 5.0

#: Each step takes a store's schema from version i to i + 1. Append-only, as for SQLite: a released step is
#: never edited, because databases in the field already ran it.
Migrations = Sequence[Sequence[str]]


def check_url(url: str, store: str) -> dict[str, Any]:
    """The URL's connection parameters; ValueError naming the store when it is malformed."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        raise ValueError(f"{store}: malformed PostgreSQL URL {redacted(url)!r}: {_first_line(error)}") from None
    ports = str(params.get("port", "5432")).split(",")  # libpq checks ports only when connecting
    if not all(port.isdigit() and 0 < int(port) < 65536 for port in ports):
        raise ValueError(f"{store}: malformed PostgreSQL URL {redacted(url)!r}: port {params['port']!r}")
    return params


class PostgresDatabase:
    """One store's view of a PostgreSQL database: a lazily opened pool whose connections see only its schema."""

    def __init__(
        self,
        url: str,
        *,
        store: str,
        schema: str,
        migrations: Migrations,
        min_size: int = 1,
        max_size: int = 4,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        durable: bool = True,
    ) -> None:
        """`durable=False` commits without waiting for the WAL flush (`synchronous_commit=off`): a server
        crash can take back the last fraction of a second of commits, in order, never corrupt anything. For
        writes that are replayed idempotently when lost, as SQLite's non-durable connections are used."""
        check_url(url, store)
        self.url = url
        self.store = store
        self.schema = schema
        self.migrations = migrations
        self.min_size = min_size
        self.max_size = max_size
        self.connect_timeout_s = connect_timeout_s
        self._connect_args: dict[str, Any] = {
            "autocommit": True,
            "options": f"-c search_path={schema}" + ("" if durable else " -c synchronous_commit=off"),
            "connect_timeout": max(1, round(connect_timeout_s)),
            "application_name": f"otel-ai-incident {store}",
        }
        self._lock = threading.Lock()
        self._pool: ConnectionPool | None = None
        self._pid = os.getpid()

    def describe(self) -> str:
        return f"{self.store} at {redacted(self.url)}"

    # -- connections ----------------------------------------------------------------------------------

    def unavailable(self, error: BaseException) -> StoreUnavailableError:
        """The error to raise for a driver error meaning "cannot reach the database now", naming the store."""
        return StoreUnavailableError(f"{self.describe()}: {_first_line(error)}")

    @contextmanager
    def connection(self, timeout_s: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        """A pooled autocommit connection; use `conn.transaction()` for a transaction.

        Raises StoreUnavailableError when no connection can be had within `timeout_s` (default: the connect
        timeout), or when the connection breaks inside the block (a restarted server). A pool that timed out or
        lost a connection is dropped: its own attempts to reconnect back off for minutes (1 s, 2 s, 4 s, ...),
        while the next call, connecting afresh, fails at once while the server is down and gets through as soon
        as it is back.
        """
        pool = self._open_pool()
        lost = False
        try:
            with pool.connection(timeout=self.connect_timeout_s if timeout_s is None else timeout_s) as conn:
                try:
                    yield conn
                finally:
                    lost = conn.broken
        except psycopg.OperationalError as error:  # PoolTimeout is one
            if lost or isinstance(error, PoolTimeout):
                self._drop(pool)
            raise self.unavailable(error) from error

    def _drop(self, pool: ConnectionPool) -> None:
        with self._lock:
            if self._pool is not pool:
                return
            self._pool = None
        # Its threads may be inside a connection attempt: let them finish on their own; connections still in
        # use are closed as they come back.
        threading.Thread(target=pool.close, name=f"{pool.name}-close", daemon=True).start()

    def connect(self) -> psycopg.Connection[Any]:
        """A connection of its own, outside the pool (for LISTEN, which holds a connection for good)."""
        try:
            return psycopg.connect(self.url, **self._connect_args)
        except psycopg.OperationalError as error:
            raise self.unavailable(error) from error

    def _open_pool(self) -> ConnectionPool:
        pool = self._pool
        if pool is not None and self._pid == os.getpid():
            return pool
        with self._lock:
            if self._pid != os.getpid():  # a forked worker: the parent's pool and its threads are not ours
                self._pool, self._pid = None, os.getpid()
            if self._pool is None:
                with self.connect() as conn:
                    migrate(conn, self.schema, self.migrations, self.store)
                pool = ConnectionPool(
                    self.url,
                    kwargs=self._connect_args,
                    min_size=self.min_size,
                    max_size=self.max_size,
                    open=False,
                    check=ConnectionPool.check_connection,
                    name=f"aii-{self.store.replace(' ', '-')}",
                )
                pool.open(wait=False)
                self._pool = pool
            return self._pool

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():
            pool.close(timeout=self.connect_timeout_s)


def migrate(conn: psycopg.Connection[Any], schema: str, migrations: Migrations, store: str) -> int:
    """Bring `schema` to the latest version in one transaction, under an advisory lock so that processes
    starting together migrate once; the version. SchemaTooNewError when a newer package wrote it."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_lock_id(schema),))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        version_table = sql.Identifier(schema, "schema_version")
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (version integer NOT NULL)").format(version_table))
        row = conn.execute(sql.SQL("SELECT version FROM {}").format(version_table)).fetchone()
        version = 0 if row is None else int(row[0])
        if version > len(migrations):
            raise SchemaTooNewError(
                f"{store}: schema {schema!r} is at version {version}, newer than this package's {len(migrations)}; "
                "upgrade otel-ai-incident before using it"
            )
        for step in migrations[version:]:
            for statement in step:
                conn.execute(statement)  # type: ignore[arg-type]  # the package's own DDL, not user input
        if row is None:
            conn.execute(sql.SQL("INSERT INTO {} VALUES (%s)").format(version_table), (len(migrations),))
        elif version != len(migrations):
            conn.execute(sql.SQL("UPDATE {} SET version = %s").format(version_table), (len(migrations),))
    return len(migrations)


def advisory_lock_id(name: str) -> int:
    """The 64-bit key of PostgreSQL advisory locks for `name` (a schema, or a schema-qualified task)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
