"""The inbox on SQLite or PostgreSQL: one implementation of `InboxStore` in portable SQL.

Storing is durable (an acknowledged notification survives power loss: an fsynced SQLite commit, a
PostgreSQL commit that waits for the WAL flush) on connections of its own, while the bookkeeping (claims,
finishing) is not, since acting again is idempotent. With PostgreSQL, claims take rows with SKIP LOCKED so
receivers never wait on each other.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from otel_ai_incident.server.inbox import schema
from otel_ai_incident.server.inbox.store import InboxStore, StoredNotification
from otel_ai_incident.storage.sql import SqlDatabase, claim_rows, open_sql_database

_UNFINISHED = "processed_at IS NULL"


def open_inbox(url: str) -> InboxStore:
    """The inbox a URL names: `sqlite:///path.db` or `postgresql://user@host:port/db`."""

    def database(durable: bool) -> SqlDatabase:
        return open_sql_database(
            url,
            store="receiver inbox",
            component=schema.COMPONENT,
            sqlite_migrations=schema.SQLITE_MIGRATIONS,
            postgres_migrations=schema.POSTGRES_MIGRATIONS,
            durable=durable,
        )

    return SqlInbox(database(durable=True), database(durable=False))


class SqlInbox:
    """Implements `InboxStore`; `receiving` stores new notifications, `working` does the rest."""

    def __init__(self, receiving: SqlDatabase, working: SqlDatabase) -> None:
        self._receiving = receiving
        self._working = working

    def add(self, notifications: Sequence[tuple[str, float]]) -> list[int]:
        with self._receiving.transaction() as cur:
            return [
                int(
                    cur.execute(
                        "INSERT INTO notifications (received_at, body) VALUES (%s, %s) RETURNING id",
                        (received_at, body),
                    ).fetchone()[0]
                )
                for body, received_at in notifications
            ]

    def claim(self, owner: str, *, limit: int, lease_s: float, now: float) -> list[StoredNotification]:
        db = self._working
        with db.transaction() as cur:
            rows = claim_rows(
                db,
                cur,
                "notifications",
                unfinished=_UNFINISHED,
                owner=owner,
                lease_s=lease_s,
                now=now,
                limit=limit,
                returning="id, received_at, body, attempts",
            )
        return sorted((StoredNotification(*row) for row in rows), key=lambda n: n.id)

    def finish(self, notification_id: int) -> None:
        with self._working.transaction() as cur:
            cur.execute(
                f"UPDATE notifications SET processed_at = %s, claimed_by = NULL, lease_until = NULL "
                f"WHERE id = %s AND {_UNFINISHED}",
                (time.time(), notification_id),
            )

    def retry_later(self, notification_id: int, *, error: str, not_before: float) -> None:
        with self._working.transaction() as cur:
            cur.execute(
                f"UPDATE notifications SET claimed_by = NULL, lease_until = %s, error = %s "
                f"WHERE id = %s AND {_UNFINISHED}",
                (not_before, error, notification_id),
            )

    def count(self, *, pending: bool) -> int:
        condition = _UNFINISHED if pending else "processed_at IS NOT NULL"
        with self._working.read() as cur:
            return int(cur.execute(f"SELECT count(*) FROM notifications WHERE {condition}").fetchone()[0])

    def oldest_pending(self) -> float | None:
        with self._working.read() as cur:
            row = cur.execute(f"SELECT min(received_at) FROM notifications WHERE {_UNFINISHED}").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def pending_errors(self, limit: int = 20) -> list[tuple[int, int, str]]:
        with self._working.read() as cur:
            rows = cur.execute(
                f"SELECT id, attempts, error FROM notifications WHERE {_UNFINISHED} AND error IS NOT NULL "
                "ORDER BY id LIMIT %s",
                (limit,),
            ).fetchall()
        return [(int(i), int(a), str(e)) for i, a, e in rows]

    def prune(self, finished_before: float, *, limit: int) -> int:
        db = self._working
        with db.transaction() as cur:
            return cur.execute(
                "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications "
                f"WHERE processed_at < %s ORDER BY id LIMIT %s{db.skip_locked})",  # NULL (unfinished) never matches
                (finished_before, limit),
            ).rowcount

    def alert_processed(self, key: str) -> bool:
        with self._working.read() as cur:
            return cur.execute("SELECT 1 FROM processed_alerts WHERE key = %s", (key,)).fetchone() is not None

    def mark_alert_processed(self, key: str) -> None:
        with self._working.transaction() as cur:
            cur.execute(
                "INSERT INTO processed_alerts (key, at) VALUES (%s, %s) ON CONFLICT DO NOTHING", (key, time.time())
            )

    def close(self) -> None:
        self._receiving.close()
        self._working.close()
