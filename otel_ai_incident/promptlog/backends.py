"""`open_store(url)`: the prompt-log backend a URL names.

Kept apart from the interface (`promptlog.store`) because it imports the backends and they import the
interface. The PostgreSQL backend is imported only for a postgresql:// URL, so an app that keeps to SQLite
never loads psycopg.
"""

from __future__ import annotations

from typing import Any

from otel_ai_incident.promptlog.sqlite import SqliteStore
from otel_ai_incident.promptlog.store import PromptLogStore
from otel_ai_incident.storage.sqlite import sqlite_path
from otel_ai_incident.storage.urls import is_postgres_url, is_sqlite_url, unsupported

STORE_NAME = "prompt log"


def open_store(url: str, **options: Any) -> PromptLogStore:
    """The store at `sqlite:///relative/path.db`, `sqlite:////absolute/path.db` or
    `postgresql://user@host:port/db` (also `postgres://`); `options` go to the backend's constructor.

    Opening does no I/O, so a database that is down surfaces on first use (where the writer keeps the
    entries and retries) instead of failing the app at start-up. A URL of another kind, or a malformed
    PostgreSQL URL, raises ValueError naming the prompt log.
    """
    if is_sqlite_url(url):
        return SqliteStore(str(sqlite_path(url)), **options)
    if is_postgres_url(url):
        from otel_ai_incident.promptlog.postgres import PostgresStore

        return PostgresStore(url, **options)
    raise unsupported(STORE_NAME, url)
