"""The fleet's `ContainmentState`: PostgreSQL, shared by every receiver, app replica and on-call CLI.

Every write transaction first locks the revision row (like SQLite's BEGIN IMMEDIATE), so writers from
several receivers serialise: an exactly-once key is claimed by exactly one of them, revisions follow commit
order, and no two writers can deadlock. A change NOTIFYs `CHANNEL` in its own transaction, so the gates
that LISTEN (`ChangeFeed`) hear of it the moment it commits and never before. Rate-limit buckets are
rows taken with one upsert each, timed by the database's clock so replicas with skewed clocks agree.

Imported only for postgresql:// URLs (it needs psycopg, the `postgres` extra).
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from otel_ai_incident.containment.state.interface import (
    STORE,
    AuditRecord,
    Change,
    ContainmentEntry,
    ErasureReport,
    PendingAction,
    PlannedAction,
    StateView,
    TokenGrant,
    usable_entries,
    without_pseudonyms,
)
from otel_ai_incident.names import ContainmentActionName as Action
from otel_ai_incident.storage.postgres import PostgresDatabase, migrate

SCHEMA = "aii_containment"
CHANNEL = "aii_containment"
#: How long a rate-limited turn may wait for a pooled connection before it is denied.
TOKEN_TIMEOUT_S = 1.0

MIGRATIONS = (
    (
        "CREATE TABLE meta (name text PRIMARY KEY, value bigint NOT NULL)",
        "INSERT INTO meta VALUES ('revision', 0)",
        "CREATE TABLE active (action text NOT NULL, target text NOT NULL, params jsonb NOT NULL,"
        " incident_id text, applied_by text NOT NULL, applied_at double precision NOT NULL,"
        " expires_at double precision, PRIMARY KEY (action, target))",
        "CREATE TABLE pending (id bigserial PRIMARY KEY, action text NOT NULL, target text, params jsonb NOT NULL,"
        " ttl_s double precision, incident_id text, requested_by text NOT NULL,"
        " requested_at double precision NOT NULL, decided_by text, decided_at double precision)",
        "CREATE TABLE audit (id bigserial PRIMARY KEY, at double precision NOT NULL, revision bigint NOT NULL,"
        " change text NOT NULL, action text NOT NULL, target text, incident_id text, actor text NOT NULL,"
        " detail jsonb NOT NULL)",
        "CREATE TABLE used_keys (key text PRIMARY KEY)",
        "CREATE TABLE buckets (target text PRIMARY KEY, tokens double precision NOT NULL,"
        " updated_at double precision NOT NULL, taken boolean NOT NULL)",
    ),
    ("INSERT INTO meta VALUES ('identity', floor(random() * 4503599627370496)::bigint)",),
)

# As in SQLite, "no target" is stored as the empty string so the primary key tells entries apart.
_NO_TARGET = ""
_RATE = Action.RATE_LIMIT_USER.value

# One round trip, one snapshot: the revision and the entries in force, or no row at all while the revision
# is still the one the caller has (the LEFT JOIN keeps a row when nothing is in force).
_READ = """
SELECT m.value, a.action, a.target, a.params, a.incident_id, a.applied_by, a.applied_at, a.expires_at
FROM meta m LEFT JOIN active a ON a.expires_at IS NULL OR a.expires_at > %(now)s
WHERE m.name = 'revision' AND m.value IS DISTINCT FROM %(unless)s
ORDER BY a.applied_at, a.action, a.target
"""

# The bucket's level after refilling since its last update, by the database's clock (see interface.refill).
_LEVEL = "LEAST(%(burst)s, b.tokens + GREATEST(0, EXCLUDED.updated_at - b.updated_at) * %(rate)s)"
_TAKE = f"""
INSERT INTO buckets AS b VALUES (%(target)s, %(burst)s - 1, extract(epoch FROM clock_timestamp())::float8, true)
ON CONFLICT (target) DO UPDATE SET
    tokens = {_LEVEL} - CASE WHEN {_LEVEL} >= 1 THEN 1 ELSE 0 END,
    updated_at = EXCLUDED.updated_at,
    taken = {_LEVEL} >= 1
RETURNING taken, tokens
"""

# Whether a text holds any of the pseudonyms in %(spelled)s (for jsonb as text: spelled as JSON spells them).
_HOLDS_A_USER = "EXISTS (SELECT 1 FROM unnest(%(spelled)s::text[]) u WHERE strpos({column}, u) > 0)"

Connection = psycopg.Connection[Any]


class PostgresContainmentState:
    """`ContainmentState` in PostgreSQL (schema `aii_containment`); the contract is in the interface module."""

    remote = True  # every read is a round trip: the gate reads it on a background thread

    def __init__(self, url: str, **options: Any) -> None:
        """`options` go to `PostgresDatabase` (pool sizes, connect timeout)."""
        self._db = PostgresDatabase(url, store=STORE, schema=SCHEMA, migrations=MIGRATIONS, **options)

    def describe(self) -> str:
        return self._db.describe()

    # -- reading ------------------------------------------------------------------------------------------

    def revision(self) -> int:
        with self._db.connection() as conn:
            return _current_revision(conn)

    def identity(self) -> int:
        with self._db.connection() as conn:
            row = conn.execute("SELECT value FROM meta WHERE name = 'identity'").fetchone()
        return int(row[0]) if row else 0

    def read(self, now: float | None = None) -> StateView:
        with self._db.connection() as conn:
            view = _read_view(conn, time.time() if now is None else now, None)
        assert view is not None  # without a revision to compare, the revision row always comes back
        return view

    def changed_since(self, revision: int) -> StateView | None:
        with self._db.connection() as conn:
            return _read_view(conn, time.time(), revision)

    def pending(self) -> list[PendingAction]:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT id, action, target, params, ttl_s, incident_id, requested_by, requested_at FROM pending"
                " WHERE decided_at IS NULL ORDER BY id"
            ).fetchall()
        return [
            PendingAction(pid, PlannedAction(Action(a), t, p, ttl), inc, by, at)
            for pid, a, t, p, ttl, inc, by, at in rows
        ]

    def audit(self, limit: int = 100) -> list[AuditRecord]:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT at, revision, change, action, target, incident_id, actor, detail FROM audit"
                " ORDER BY id DESC LIMIT %s",
                (limit,),
            ).fetchall()
        return [
            AuditRecord(at, rev, Change(ch), a, t, inc, actor, detail) for at, rev, ch, a, t, inc, actor, detail in rows
        ]

    def change_feed(self, *, listen: bool = True) -> ChangeFeed:
        """What the gate's background thread reads through (a connection of its own; see `ChangeFeed`)."""
        return ChangeFeed(self._db, listen=listen)

    # -- writing ------------------------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A write transaction holding the revision row's lock from its start: one writer at a time."""
        with self._db.connection() as conn, conn.transaction():
            conn.execute("SELECT value FROM meta WHERE name = 'revision' FOR UPDATE")
            yield conn

    def apply(self, planned: PlannedAction, *, actor: str, incident_id: str | None, key: str | None = None) -> bool:
        with self._transaction() as conn:
            if not _claim(conn, key):
                return False
            _apply(conn, planned, actor, incident_id, Change.APPLIED)
        return True

    def record(
        self,
        change: Change,
        planned: PlannedAction,
        *,
        actor: str,
        incident_id: str | None,
        key: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> bool:
        with self._transaction() as conn:
            if not _claim(conn, key):
                return False
            _audit(
                conn,
                _current_revision(conn),
                change,
                planned.action,
                planned.target,
                incident_id,
                actor,
                {"params": dict(planned.params), **(detail or {})},
            )
        return True

    def request_approval(
        self, planned: PlannedAction, *, actor: str, incident_id: str | None, key: str | None = None
    ) -> int | None:
        with self._transaction() as conn:
            if not _claim(conn, key):
                return None
            row = conn.execute(
                "INSERT INTO pending (action, target, params, ttl_s, incident_id, requested_by, requested_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (
                    planned.action.value,
                    planned.target,
                    Jsonb(dict(planned.params)),
                    planned.ttl_s,
                    incident_id,
                    actor,
                    time.time(),
                ),
            ).fetchone()
            pending_id = int(row[0]) if row else 0
            _audit(
                conn,
                _bump(conn),
                Change.PENDING,
                planned.action,
                planned.target,
                incident_id,
                actor,
                {"pending_id": pending_id, "params": dict(planned.params)},
            )
        return pending_id

    def approve(self, pending_id: int, *, actor: str) -> ContainmentEntry:
        with self._transaction() as conn:
            row = conn.execute(
                "UPDATE pending SET decided_by = %s, decided_at = %s WHERE id = %s AND decided_at IS NULL"
                " RETURNING action, target, params, ttl_s, incident_id",
                (actor, time.time(), pending_id),
            ).fetchone()
            if row is None:
                raise KeyError(f"no pending containment action with id {pending_id}")
            action, target, params, ttl_s, incident_id = row
            return _apply(
                conn, PlannedAction(Action(action), target, params, ttl_s), actor, incident_id, Change.APPROVED
            )

    def lift(self, action: Action, target: str | None, *, actor: str, reason: str) -> bool:
        with self._transaction() as conn:
            lifted = conn.execute(
                "DELETE FROM active WHERE action = %s AND target = %s", (action.value, target or _NO_TARGET)
            ).rowcount
            if not lifted:
                return False
            if action is Action.RATE_LIMIT_USER:
                conn.execute("DELETE FROM buckets WHERE target = %s", (target or _NO_TARGET,))
            _audit(conn, _bump(conn), Change.LIFTED, action, target, None, actor, {"reason": reason})
        return True

    def take_token(self, target: str, rate_per_s: float, burst: float) -> TokenGrant:
        with self._db.connection(timeout_s=TOKEN_TIMEOUT_S) as conn:
            row = conn.execute(_TAKE, {"target": target, "rate": rate_per_s, "burst": burst}).fetchone()
        assert row is not None  # an upsert always returns its row
        taken, tokens = row
        if taken:
            return TokenGrant(True)
        return TokenGrant(False, (1.0 - tokens) / rate_per_s if rate_per_s > 0 else float("inf"))

    def erase(self, pseudonyms: Collection[str], *, actor: str, reason: str) -> ErasureReport:
        users = sorted({p for p in pseudonyms if p})
        with self._transaction() as conn:
            report = _erase(conn, users) if users else ErasureReport()
            revision = _bump(conn) if report.rate_limits or report.pending else _current_revision(conn)
            _audit(
                conn,
                revision,
                Change.ERASED,
                Action.RATE_LIMIT_USER,
                None,
                None,
                actor,
                {"reason": reason, "users": len(users), **report.to_json()},
            )
        return report

    def close(self) -> None:
        self._db.close()


class ChangeFeed:
    """The gate's own connection to the state: reads it and, when `listen`, hears of every committed change.

    Used by one thread (the gate's), outside the pool, so the gate controls reconnecting itself: after any
    connection error the next read connects afresh (LISTEN first, then read, so no change can fall between
    the two), without the pool's back-off, and reads the whole state, so a change committed while it was
    cut off is not missed. Connecting also migrates the schema, like the pool's first connection.
    """

    def __init__(self, db: PostgresDatabase, *, listen: bool = True) -> None:
        self._db = db
        self._listen = listen
        self._conn: Connection | None = None

    def changed_since(self, revision: int) -> StateView | None:
        conn = self._conn or self._connect()
        try:
            return _read_view(conn, time.time(), revision)
        except psycopg.OperationalError as error:
            self.close()
            raise self._db.unavailable(error) from error

    @property
    def listening(self) -> bool:
        """Whether `wait` can hear of changes now (it listens and is connected)."""
        return self._listen and self._conn is not None

    def wait(self, timeout_s: float) -> bool:
        """True as soon as a change is announced, False after `timeout_s` without one (also when not
        `listening`). StoreUnavailableError when the connection broke (the next read reconnects)."""
        if self._conn is None or not self._listen:
            return False
        try:
            return any(True for _ in self._conn.notifies(timeout=timeout_s, stop_after=1))
        except psycopg.OperationalError as error:
            self.close()
            raise self._db.unavailable(error) from error

    def _connect(self) -> Connection:
        conn = self._db.connect()
        try:
            migrate(conn, SCHEMA, MIGRATIONS, STORE)
            if self._listen:
                conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.OperationalError as error:
            conn.close()
            raise self._db.unavailable(error) from error
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                conn.close()


# -- inside a transaction --------------------------------------------------------------------------------------


def _read_view(conn: Connection, now: float, unless: int | None) -> StateView | None:
    rows = conn.execute(_READ, {"now": now, "unless": unless}).fetchall()
    if not rows:
        return None
    entries, skipped = usable_entries(
        (row for row in rows if row[1] is not None),  # not the row that only carries the revision
        lambda row: ContainmentEntry(Action(row[1]), row[2] or None, dict(row[3]), *row[4:]),
    )
    return StateView(rows[0][0], entries, skipped)


def _current_revision(conn: Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()
    return int(row[0]) if row else 0


def _claim(conn: Connection, key: str | None) -> bool:
    if key is None:
        return True
    return conn.execute("INSERT INTO used_keys VALUES (%s) ON CONFLICT DO NOTHING", (key,)).rowcount == 1


def _bump(conn: Connection) -> int:
    """The next revision, announced to listeners when (and only if) the transaction commits."""
    row = conn.execute(
        "UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value, pg_notify(%s, value::text)",
        (CHANNEL,),
    ).fetchone()
    return int(row[0]) if row else 0


def _apply(
    conn: Connection, planned: PlannedAction, actor: str, incident_id: str | None, change: Change
) -> ContainmentEntry:
    now = time.time()
    entry = ContainmentEntry(
        planned.action,
        planned.target,
        dict(planned.params),
        incident_id,
        actor,
        now,
        None if planned.ttl_s is None else now + planned.ttl_s,
    )
    conn.execute(
        "INSERT INTO active VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (action, target) DO UPDATE SET"
        " params = EXCLUDED.params, incident_id = EXCLUDED.incident_id, applied_by = EXCLUDED.applied_by,"
        " applied_at = EXCLUDED.applied_at, expires_at = EXCLUDED.expires_at",
        (
            entry.action.value,
            entry.target or _NO_TARGET,
            Jsonb(dict(entry.params)),
            incident_id,
            actor,
            now,
            entry.expires_at,
        ),
    )
    if entry.action is Action.RATE_LIMIT_USER:
        conn.execute("DELETE FROM buckets WHERE target = %s", (entry.target or _NO_TARGET,))
    _audit(
        conn,
        _bump(conn),
        change,
        entry.action,
        entry.target,
        incident_id,
        actor,
        {"params": dict(entry.params), "expires_at": entry.expires_at},
    )
    return entry


def _erase(conn: Connection, users: list[str]) -> ErasureReport:
    rate_limits = conn.execute("DELETE FROM active WHERE action = %s AND target = ANY(%s)", (_RATE, users)).rowcount
    pending = conn.execute("DELETE FROM pending WHERE target = ANY(%s)", (users,)).rowcount
    conn.execute("DELETE FROM buckets WHERE target = ANY(%s)", (users,))
    records = conn.execute(
        "SELECT id, target, detail FROM audit WHERE target = ANY(%(users)s) OR "
        + _HOLDS_A_USER.format(column="detail::text"),
        {"users": users, "spelled": [json.dumps(u, ensure_ascii=False)[1:-1] for u in users]},
    ).fetchall()
    for record_id, target, detail in records:
        conn.execute(
            "UPDATE audit SET target = %s, detail = %s WHERE id = %s",
            (without_pseudonyms(target, users), Jsonb(without_pseudonyms(detail, users)), record_id),
        )
    keys = [
        k
        for (k,) in conn.execute(
            "SELECT key FROM used_keys WHERE " + _HOLDS_A_USER.format(column="key"), {"spelled": users}
        ).fetchall()
    ]
    for key in keys:
        conn.execute("DELETE FROM used_keys WHERE key = %s", (key,))
        conn.execute("INSERT INTO used_keys VALUES (%s) ON CONFLICT DO NOTHING", (without_pseudonyms(key, users),))
    return ErasureReport(rate_limits, pending, len(records), len(keys))


def _audit(
    conn: Connection,
    revision: int,
    change: Change,
    action: Action,
    target: str | None,
    incident_id: str | None,
    actor: str,
    detail: Mapping[str, Any],
) -> None:
    conn.execute(
        "INSERT INTO audit (at, revision, change, action, target, incident_id, actor, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (time.time(), revision, change.value, action.value, target, incident_id, actor, Jsonb(dict(detail))),
    )
