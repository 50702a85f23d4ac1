"""The incident store's tables, for each engine, side by side so they stay alike.

Append-only: each step takes a store from version i to i + 1, and a released step is never edited. SQLite's
first step is the schema from before versioning (IF NOT EXISTS), so files made then are adopted as they are.
"""

from __future__ import annotations

COMPONENT = "incidents"

SQLITE_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE IF NOT EXISTS incidents (
            id TEXT PRIMARY KEY, group_key TEXT NOT NULL, title TEXT NOT NULL, incident_type TEXT NOT NULL,
            severity TEXT NOT NULL, signals TEXT NOT NULL, status TEXT NOT NULL, opened_at REAL NOT NULL,
            updated_at REAL NOT NULL)""",
        "CREATE UNIQUE INDEX IF NOT EXISTS one_live_incident_per_group ON incidents (group_key) "
        "WHERE status != 'closed'",
        """CREATE TABLE IF NOT EXISTS timeline (
            id INTEGER PRIMARY KEY AUTOINCREMENT, incident_id TEXT NOT NULL REFERENCES incidents (id),
            kind TEXT NOT NULL, at REAL NOT NULL, detail TEXT NOT NULL, key TEXT UNIQUE)""",
        "CREATE INDEX IF NOT EXISTS timeline_by_incident ON timeline (incident_id, at)",
        "CREATE TABLE IF NOT EXISTS rca (incident_id TEXT PRIMARY KEY REFERENCES incidents (id), data TEXT NOT NULL)",
        """CREATE TABLE IF NOT EXISTS replays (
            id INTEGER PRIMARY KEY AUTOINCREMENT, incident_id TEXT NOT NULL REFERENCES incidents (id),
            data TEXT NOT NULL)""",
    ),
    (
        """CREATE TABLE episodes (
            episode TEXT NOT NULL, incident_id TEXT NOT NULL REFERENCES incidents (id),
            PRIMARY KEY (episode, incident_id))""",
    ),
    ("ALTER TABLE incidents ADD COLUMN blast_radius TEXT",),  # JSON, counted at the close
    (
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT, incident_id TEXT NOT NULL REFERENCES incidents (id),
            event TEXT NOT NULL, at REAL NOT NULL, detail TEXT NOT NULL, key TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL, routed_at REAL)""",
        "CREATE INDEX outbox_unrouted ON outbox (id) WHERE routed_at IS NULL",
        """CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY AUTOINCREMENT, message_id INTEGER NOT NULL REFERENCES outbox (id),
            target TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, claimed_by TEXT, lease_until REAL,
            error TEXT, finished_at REAL, UNIQUE (message_id, target))""",
        "CREATE INDEX deliveries_unfinished ON deliveries (target, id) WHERE finished_at IS NULL",
    ),
)


POSTGRES_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE incidents (
            id text PRIMARY KEY, group_key text NOT NULL, title text NOT NULL, incident_type text NOT NULL,
            severity text NOT NULL, signals text NOT NULL, status text NOT NULL,
            opened_at double precision NOT NULL, updated_at double precision NOT NULL)""",
        "CREATE UNIQUE INDEX one_live_incident_per_group ON incidents (group_key) WHERE status <> 'closed'",
        """CREATE TABLE timeline (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, incident_id text NOT NULL REFERENCES incidents (id),
            kind text NOT NULL, at double precision NOT NULL, detail text NOT NULL, key text UNIQUE)""",
        "CREATE INDEX timeline_by_incident ON timeline (incident_id, at)",
        "CREATE TABLE rca (incident_id text PRIMARY KEY REFERENCES incidents (id), data text NOT NULL)",
        """CREATE TABLE replays (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, incident_id text NOT NULL REFERENCES incidents (id),
            data text NOT NULL)""",
        """CREATE TABLE episodes (
            episode text NOT NULL, incident_id text NOT NULL REFERENCES incidents (id),
            PRIMARY KEY (episode, incident_id))""",
    ),
    ("ALTER TABLE incidents ADD COLUMN blast_radius text",),
    (
        """CREATE TABLE outbox (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, incident_id text NOT NULL REFERENCES incidents (id),
            event text NOT NULL, at double precision NOT NULL, detail text NOT NULL, key text NOT NULL UNIQUE,
            created_at double precision NOT NULL, routed_at double precision)""",
        "CREATE INDEX outbox_unrouted ON outbox (id) WHERE routed_at IS NULL",
        """CREATE TABLE deliveries (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, message_id bigint NOT NULL REFERENCES outbox (id),
            target text NOT NULL, attempts integer NOT NULL DEFAULT 0, claimed_by text,
            lease_until double precision, error text, finished_at double precision, UNIQUE (message_id, target))""",
        "CREATE INDEX deliveries_unfinished ON deliveries (target, id) WHERE finished_at IS NULL",
    ),
)
