"""The embedded `ContainmentState`: one SQLite file (WAL mode) the receiver writes and apps on the host read.

Every write holds SQLite's write lock from its start (BEGIN IMMEDIATE), so writers in several processes
serialise and an exactly-once key is claimed by one of them. Standard library only: this runs inside apps.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
    grant,
    refill,
    usable_entries,
    without_pseudonyms,
)
from otel_ai_incident.names import ContainmentActionName as Action
from otel_ai_incident.storage.sqlite import BUSY_TIMEOUT_S, SQLITE_SCHEME, connect, immediate_transaction, sqlite_path

# A store's identity: drawn when it is created, and again when a restored file takes its place.
_RANDOM_IDENTITY = "abs(random() % 4503599627370496)"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('revision', 0);
INSERT OR IGNORE INTO meta VALUES ('identity', {_RANDOM_IDENTITY});
CREATE TABLE IF NOT EXISTS active (
    action TEXT NOT NULL, target TEXT NOT NULL, params TEXT NOT NULL, incident_id TEXT,
    applied_by TEXT NOT NULL, applied_at REAL NOT NULL, expires_at REAL, PRIMARY KEY (action, target));
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL, target TEXT, params TEXT NOT NULL,
    ttl_s REAL, incident_id TEXT, requested_by TEXT NOT NULL, requested_at REAL NOT NULL,
    decided_by TEXT, decided_at REAL);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, revision INTEGER NOT NULL, change TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT, incident_id TEXT, actor TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS used_keys (key TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS buckets (target TEXT PRIMARY KEY, tokens REAL NOT NULL, updated_at REAL NOT NULL);
"""

# The primary key cannot tell NULL targets apart, so "no target" is stored as the empty string.
_NO_TARGET = ""
_RATE = Action.RATE_LIMIT_USER.value


class SqliteContainmentState:
    """`ContainmentState` in one SQLite file; the contract is in `interface.ContainmentState`."""

    remote = False  # a local file: the gate may read it on the turn path, once per refresh interval

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._conn = self._connect()
        self._file, self._logs = _file_identity(self._path), _log_identities(self._path)

    def _connect(self) -> sqlite3.Connection:
        conn = connect(self._path)
        try:
            conn.executescript(_SCHEMA)  # idempotent, so racing processes may all run it
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    @classmethod
    def from_url(cls, url: str) -> SqliteContainmentState:
        return cls(sqlite_path(url))

    def describe(self) -> str:
        return f"{STORE} at {SQLITE_SCHEME}{self._path}"

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction on the file now at the path (the connection is read under the lock)."""
        self._follow_path()
        with self._lock, immediate_transaction(self._conn):
            yield self._conn.cursor()

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection to the file now at the path, under the lock."""
        self._follow_path()
        with self._lock:
            yield self._conn

    def _follow_path(self) -> bool:
        """Whether another file now has this path (a restore moved over it, or it was deleted and made
        again); if so, work on that one from now on, under a new identity.

        Checked before every read and write (one stat), so what the receiver serves, lifts and applies
        goes to the file an operator restored, never to the one it replaced. The old file is checkpointed
        here (it keeps every write made to it): SQLite does not do that when a moved file's connection
        closes, and leaves its write-ahead log and index at the path's `-wal` and `-shm`, where SQLite
        would read them as the new file's. So they are removed before the new file is opened (only those
        this connection opened: a log restored with the file is kept). The restored file gets a new
        identity because it is an older history, whose revisions repeat numbers readers have seen with
        other contents.
        """
        current = _file_identity(self._path)
        if current is None or current == self._file:
            return False
        with self._lock:
            if current == self._file:  # another thread followed it meanwhile
                return False
            with contextlib.suppress(sqlite3.Error):  # the old file keeps its last writes (nothing else does)
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
            for suffix, opened in zip(_LOGS, self._logs, strict=True):
                log = Path(f"{self._path}{suffix}")
                if opened is not None and _file_identity(log) == opened:
                    log.unlink(missing_ok=True)
            self._conn = self._connect()
            self._conn.execute(f"UPDATE meta SET value = {_RANDOM_IDENTITY} WHERE name = 'identity'")
            self._file, self._logs = current, _log_identities(self._path)
        return True

    # -- reading ------------------------------------------------------------------------------------------

    def revision(self) -> int:
        with self._reading() as conn:
            return _revision(conn)

    def identity(self) -> int:
        with self._reading() as conn:
            return _identity(conn)

    def read(self, now: float | None = None) -> StateView:
        with self._reading() as conn:
            return _read(conn, time.time() if now is None else now)

    def changed_since(self, revision: int) -> StateView | None:
        if self._follow_path():
            return self.read()
        if self.revision() == revision:
            return None
        return self.read()

    def pending(self) -> list[PendingAction]:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT id, action, target, params, ttl_s, incident_id, requested_by, requested_at FROM pending"
                " WHERE decided_at IS NULL ORDER BY id"
            ).fetchall()
        return [
            PendingAction(pid, PlannedAction(Action(a), t, json.loads(p), ttl), inc, by, at)
            for pid, a, t, p, ttl, inc, by, at in rows
        ]

    def audit(self, limit: int = 100) -> list[AuditRecord]:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT at, revision, change, action, target, incident_id, actor, detail FROM audit"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            AuditRecord(at, rev, Change(ch), a, t, inc, actor, json.loads(d))
            for at, rev, ch, a, t, inc, actor, d in rows
        ]

    # -- writing ------------------------------------------------------------------------------------------

    def apply(self, planned: PlannedAction, *, actor: str, incident_id: str | None, key: str | None = None) -> bool:
        with self._transaction() as cur:
            if not self._claim(cur, key):
                return False
            self._apply(cur, planned, actor, incident_id, Change.APPLIED)
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
        with self._transaction() as cur:
            if not self._claim(cur, key):
                return False
            revision = cur.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()[0]
            self._audit(
                cur,
                revision,
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
        with self._transaction() as cur:
            if not self._claim(cur, key):
                return None
            cur.execute(
                "INSERT INTO pending (action, target, params, ttl_s, incident_id, requested_by, requested_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    planned.action.value,
                    planned.target,
                    json.dumps(dict(planned.params)),
                    planned.ttl_s,
                    incident_id,
                    actor,
                    time.time(),
                ),
            )
            pending_id = int(cur.lastrowid or 0)
            revision = self._bump(cur)
            self._audit(
                cur,
                revision,
                Change.PENDING,
                planned.action,
                planned.target,
                incident_id,
                actor,
                {"pending_id": pending_id, "params": dict(planned.params)},
            )
        return pending_id

    def approve(self, pending_id: int, *, actor: str) -> ContainmentEntry:
        with self._transaction() as cur:
            row = cur.execute(
                "SELECT action, target, params, ttl_s, incident_id FROM pending WHERE id = ? AND decided_at IS NULL",
                (pending_id,),
            ).fetchone()
            if row is None:
                raise KeyError(f"no pending containment action with id {pending_id}")
            action, target, params, ttl_s, incident_id = row
            cur.execute(
                "UPDATE pending SET decided_by = ?, decided_at = ? WHERE id = ?", (actor, time.time(), pending_id)
            )
            planned = PlannedAction(Action(action), target, json.loads(params), ttl_s)
            return self._apply(cur, planned, actor, incident_id, Change.APPROVED)

    def lift(self, action: Action, target: str | None, *, actor: str, reason: str) -> bool:
        with self._transaction() as cur:
            cur.execute("DELETE FROM active WHERE action = ? AND target = ?", (action.value, target or _NO_TARGET))
            if cur.rowcount == 0:
                return False
            if action is Action.RATE_LIMIT_USER:
                cur.execute("DELETE FROM buckets WHERE target = ?", (target or _NO_TARGET,))
            revision = self._bump(cur)
            self._audit(cur, revision, Change.LIFTED, action, target, None, actor, {"reason": reason})
        return True

    def take_token(self, target: str, rate_per_s: float, burst: float) -> TokenGrant:
        with self._transaction() as cur:
            now = time.time()
            row = cur.execute("SELECT tokens, updated_at FROM buckets WHERE target = ?", (target,)).fetchone()
            level = burst if row is None else refill(row[0], now - row[1], rate_per_s, burst)
            answer = grant(level, rate_per_s)
            if answer.taken:  # a refusal writes nothing: the level it saw follows from the stored one
                cur.execute("INSERT OR REPLACE INTO buckets VALUES (?, ?, ?)", (target, level - 1.0, now))
        return answer

    def erase(self, pseudonyms: Collection[str], *, actor: str, reason: str) -> ErasureReport:
        users = sorted({p for p in pseudonyms if p})
        marks = ",".join("?" * len(users))
        with self._transaction() as cur:
            rate_limits = pending = audit = keys = 0
            if users:
                rate_limits = cur.execute(
                    f"DELETE FROM active WHERE action = ? AND target IN ({marks})", (_RATE, *users)
                ).rowcount
                pending = cur.execute(f"DELETE FROM pending WHERE target IN ({marks})", users).rowcount
                cur.execute(f"DELETE FROM buckets WHERE target IN ({marks})", users)
                audit = self._erase_from_audit(cur, users)
                keys = self._erase_from_keys(cur, users)
            if rate_limits or pending:
                revision = self._bump(cur)
            else:
                revision = cur.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()[0]
            report = ErasureReport(rate_limits, pending, audit, keys)
            self._audit(
                cur,
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
        with self._lock:
            self._conn.close()

    # -- inside a transaction -----------------------------------------------------------------------------

    def _apply(
        self, cur: sqlite3.Cursor, planned: PlannedAction, actor: str, incident_id: str | None, change: Change
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
        cur.execute(
            "INSERT OR REPLACE INTO active VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                entry.action.value,
                entry.target or _NO_TARGET,
                json.dumps(entry.params),
                incident_id,
                actor,
                now,
                entry.expires_at,
            ),
        )
        if entry.action is Action.RATE_LIMIT_USER:
            cur.execute("DELETE FROM buckets WHERE target = ?", (entry.target or _NO_TARGET,))
        revision = self._bump(cur)
        self._audit(
            cur,
            revision,
            change,
            entry.action,
            entry.target,
            incident_id,
            actor,
            {"params": entry.params, "expires_at": entry.expires_at},
        )
        return entry

    @staticmethod
    def _erase_from_audit(cur: sqlite3.Cursor, users: list[str]) -> int:
        in_detail = " OR ".join(["instr(detail, ?) > 0"] * len(users))
        as_in_json = [json.dumps(user)[1:-1] for user in users]  # how each is spelled inside the stored JSON
        rows = cur.execute(
            f"SELECT id, target, detail FROM audit WHERE target IN ({','.join('?' * len(users))}) OR {in_detail}",
            (*users, *as_in_json),
        ).fetchall()
        for record_id, target, detail in rows:
            cur.execute(
                "UPDATE audit SET target = ?, detail = ? WHERE id = ?",
                (
                    without_pseudonyms(target, users),
                    json.dumps(without_pseudonyms(json.loads(detail), users)),
                    record_id,
                ),
            )
        return len(rows)

    @staticmethod
    def _erase_from_keys(cur: sqlite3.Cursor, users: list[str]) -> int:
        matches = " OR ".join(["instr(key, ?) > 0"] * len(users))
        keys = [k for (k,) in cur.execute(f"SELECT key FROM used_keys WHERE {matches}", users).fetchall()]
        for key in keys:
            cur.execute("DELETE FROM used_keys WHERE key = ?", (key,))
            cur.execute("INSERT OR IGNORE INTO used_keys VALUES (?)", (without_pseudonyms(key, users),))
        return len(keys)

    @staticmethod
    def _claim(cur: sqlite3.Cursor, key: str | None) -> bool:
        if key is None:
            return True
        cur.execute("INSERT OR IGNORE INTO used_keys VALUES (?)", (key,))
        return cur.rowcount == 1

    @staticmethod
    def _bump(cur: sqlite3.Cursor) -> int:
        cur.execute("UPDATE meta SET value = value + 1 WHERE name = 'revision'")
        return cur.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()[0]

    @staticmethod
    def _audit(
        cur: sqlite3.Cursor,
        revision: int,
        change: Change,
        action: Action,
        target: str | None,
        incident_id: str | None,
        actor: str,
        detail: Mapping[str, Any],
    ) -> None:
        cur.execute(
            "INSERT INTO audit (at, revision, change, action, target, incident_id, actor, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), revision, change.value, action.value, target, incident_id, actor, json.dumps(detail)),
        )


class SqliteStateReader:
    """A read-only view of the state file, for an app allowed to read it but not to write it.

    Each read opens the file afresh (read-only), so a file replaced by a restore or repaired after a
    corruption is read as it is now. While
    no writer has the file open, its WAL index may be missing and a read-only process cannot create it; the
    file is then read as immutable, which is exact because nobody is writing it (with a WAL that holds
    changes but cannot be read, the read fails instead: the gate reports it and follows its fail policy).
    The database, its -wal and -shm must be readable by the app (they are created 0600: grant read
    deliberately, e.g. to a group). No `take_token`: rate-limit buckets stay in the process.
    """

    remote = False

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path).resolve()
        self._lock = threading.Lock()
        self._last_identity: int | None = None  # opened lazily: a file unreadable now may be repaired later

    def describe(self) -> str:
        return f"{STORE} at {SQLITE_SCHEME}{self._path} (read-only)"

    def revision(self) -> int:
        with self._lock, self._open() as conn:
            return _revision(conn)

    def read(self, now: float | None = None) -> StateView:
        with self._lock, self._open() as conn:
            return _read(conn, time.time() if now is None else now)

    def identity(self) -> int:
        with self._lock, self._open() as conn:
            return _identity(conn)

    def changed_since(self, revision: int) -> StateView | None:
        with self._lock, self._open() as conn:
            identity, view = _identity(conn), _read(conn, time.time())
        fresh, self._last_identity = identity != self._last_identity, identity
        return view if fresh or view.revision != revision else None

    def close(self) -> None:
        """Nothing stays open between reads."""

    @contextmanager
    def _open(self) -> Iterator[sqlite3.Connection]:
        uri = self._path.as_uri()
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            _revision(conn)
        except sqlite3.OperationalError:
            conn.close()
            if _has_log(self._path):
                raise  # committed changes may wait in the WAL: reading without it could miss a kill switch
            # No WAL (no writer has the file open) and this process may not create its index: nobody writes.
            conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()


def _revision(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()[0]


def _read(conn: sqlite3.Connection, now: float) -> StateView:
    cur = conn.cursor()
    cur.execute("BEGIN")  # one snapshot: the revision matches the rows
    try:
        revision = _revision(conn)
        rows = cur.execute(
            "SELECT action, target, params, incident_id, applied_by, applied_at, expires_at FROM active"
            " WHERE expires_at IS NULL OR expires_at > ? ORDER BY applied_at, action, target",
            (now,),
        ).fetchall()
    finally:
        cur.execute("COMMIT")
    entries, skipped = usable_entries(rows, _entry)
    return StateView(revision, entries, skipped)


def _entry(row: tuple[Any, ...]) -> ContainmentEntry:
    action, target, params, incident_id, applied_by, applied_at, expires_at = row
    return ContainmentEntry(
        Action(action), target or None, json.loads(params), incident_id, applied_by, applied_at, expires_at
    )


def _identity(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE name = 'identity'").fetchone()
    return int(row[0]) if row else 0


def _has_log(path: Path) -> bool:
    """Whether the database's write-ahead log exists and holds anything."""
    try:
        return os.stat(f"{path}-wal").st_size > 0
    except FileNotFoundError:
        return False


_LOGS = ("-wal", "-shm")


def _log_identities(path: Path) -> tuple[tuple[int, int] | None, ...]:
    """The files holding the database's write-ahead log and its index, as this connection opened them."""
    return tuple(_file_identity(Path(f"{path}{suffix}")) for suffix in _LOGS)


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino
