"""The inbox's tables, for each engine, side by side so they stay alike (append-only steps, as for every store).

SQLite's first step is the schema from before versioning (IF NOT EXISTS), so inbox files made then are
adopted as they are; the second adds the claim columns.
"""

from __future__ import annotations

COMPONENT = "inbox"

SQLITE_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE IF NOT EXISTS notifications (
            id INTEGER PRIMARY KEY AUTOINCREMENT, received_at REAL NOT NULL, body TEXT NOT NULL,
            processed_at REAL, error TEXT)""",
        "CREATE INDEX IF NOT EXISTS pending_notifications ON notifications (id) WHERE processed_at IS NULL",
        "CREATE TABLE IF NOT EXISTS processed_alerts (key TEXT PRIMARY KEY, at REAL NOT NULL)",
    ),
    (
        "ALTER TABLE notifications ADD COLUMN claimed_by TEXT",
        "ALTER TABLE notifications ADD COLUMN lease_until REAL",
        "ALTER TABLE notifications ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
    ),
)

POSTGRES_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE notifications (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, received_at double precision NOT NULL,
            body text NOT NULL, processed_at double precision, error text, claimed_by text,
            lease_until double precision, attempts integer NOT NULL DEFAULT 0)""",
        "CREATE INDEX pending_notifications ON notifications (id) WHERE processed_at IS NULL",
        "CREATE TABLE processed_alerts (key text PRIMARY KEY, at double precision NOT NULL)",
    ),
)
