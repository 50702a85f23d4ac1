"""The durable containment state: what is in force, what waits for approval, and who changed what.

The receiver writes it and every app's gate reads it. `interface` holds the data types and the
`ContainmentState` protocol (each method's contract); one module per backend implements it: `sqlite` (the
embedded default, one host) and `postgres` (a fleet). `open_containment_state(url)` picks one by URL.
A revision number grows with every change: readers compare it first and only read the rest when it moved
(the gate's cheap refresh, the HTTP endpoint's ETag).
"""

from __future__ import annotations

from typing import Any

from otel_ai_incident.containment.state.interface import (
    ERASED_MARKER,
    STORE,
    AuditRecord,
    Change,
    ContainmentEntry,
    ContainmentState,
    ErasureReport,
    PendingAction,
    PlannedAction,
    StateView,
    TokenGrant,
)
from otel_ai_incident.containment.state.sqlite import SqliteContainmentState, SqliteStateReader
from otel_ai_incident.storage.sqlite import sqlite_path
from otel_ai_incident.storage.urls import is_postgres_url, is_sqlite_url, unsupported

__all__ = [
    "ERASED_MARKER",
    "STORE",
    "AuditRecord",
    "Change",
    "ContainmentEntry",
    "ContainmentState",
    "ErasureReport",
    "PendingAction",
    "PlannedAction",
    "SqliteContainmentState",
    "SqliteStateReader",
    "StateView",
    "TokenGrant",
    "open_containment_state",
]


def open_containment_state(url: str, **options: Any) -> ContainmentState:
    """The store a URL names: `sqlite:///path.db` or `postgresql://user@host:port/db` (or `postgres://`).

    A malformed URL raises ValueError naming the store. PostgreSQL is reached on first use, not here, so an
    app that starts while the database is down keeps running (its gate follows its fail policy and retries);
    `options` go to the PostgreSQL backend (pool sizes, connect timeout). SQLite opens (creates) the file now.
    """
    if is_sqlite_url(url):
        return SqliteContainmentState(sqlite_path(url))
    if is_postgres_url(url):
        from otel_ai_incident.containment.state.postgres import PostgresContainmentState

        return PostgresContainmentState(url, **options)
    raise unsupported(STORE, url)
