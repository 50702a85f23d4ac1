"""The durable containment state: what is in force, what waits for approval, and who changed what.

The receiver writes it and every app's gate reads it, possibly from other processes, so SQLite (WAL mode)
is the default backend and `ContainmentState` is the interface a shared fleet store implements later.
A revision number grows with every change: readers compare it first and only read the rest when it moved
(the gate's cheap refresh, the HTTP endpoint's ETag). Standard library only: this runs inside apps.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from otel_ai_incident.names import ContainmentActionName as Action
from otel_ai_incident.storage.sqlite import connect, sqlite_path, write_transaction


class Change(StrEnum):
    """What an audit record says happened."""

    APPLIED = "applied"
    LIFTED = "lifted"
    PENDING = "pending"  # waits for `containment approve`
    APPROVED = "approved"
    DRY_RUN = "dry_run"  # would have been applied
    NO_TARGET = "no_target"  # the target could not be determined, so nothing was done


@dataclass(frozen=True)
class PlannedAction:
    """An action with its target resolved, before it is applied (or recorded as pending or dry run)."""

    action: Action
    target: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    ttl_s: float | None = None  # None: stays until a human lifts it


@dataclass(frozen=True)
class ContainmentEntry:
    """One action in force. `target` is None for actions on the whole app (kill switch, read-only)."""

    action: Action
    target: str | None
    params: Mapping[str, Any]
    incident_id: str | None
    applied_by: str
    applied_at: float
    expires_at: float | None = None

    def active_at(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action.value, "target": self.target, "params": dict(self.params),
            "incident_id": self.incident_id, "applied_by": self.applied_by, "applied_at": self.applied_at,
            "expires_at": self.expires_at,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContainmentEntry:
        return cls(
            Action(data["action"]), data.get("target"), dict(data.get("params") or {}), data.get("incident_id"),
            str(data["applied_by"]), float(data["applied_at"]),
            None if data.get("expires_at") is None else float(data["expires_at"]),
        )  # fmt: skip


@dataclass(frozen=True)
class PendingAction:
    id: int
    planned: PlannedAction
    incident_id: str | None
    requested_by: str
    requested_at: float


@dataclass(frozen=True)
class AuditRecord:
    at: float
    revision: int
    change: Change
    action: str
    target: str | None
    incident_id: str | None
    actor: str
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class StateView:
    """The entries in force at one revision."""

    revision: int
    entries: tuple[ContainmentEntry, ...]

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "entries": [e.to_json() for e in self.entries]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StateView:
        return cls(int(data["revision"]), tuple(ContainmentEntry.from_json(e) for e in data["entries"]))


class ContainmentState(Protocol):
    """What the receiver, the CLI and the gate need from a containment store.

    `key` makes a write idempotent: a second call with a key already used changes nothing and returns
    False, so a notification delivered twice acts once.
    """

    def revision(self) -> int: ...

    def read(self, now: float | None = None) -> StateView:
        """The entries in force (expired rate limits left out)."""

    def changed_since(self, revision: int) -> StateView | None:
        """The current view when the revision moved past `revision`, else None (reads one number)."""

    def apply(self, planned: PlannedAction, *, actor: str, incident_id: str | None, key: str | None = None) -> bool:
        """Put an action in force (replacing the same action on the same target)."""

    def record(
        self, change: Change, planned: PlannedAction, *, actor: str, incident_id: str | None,
        key: str | None = None, detail: Mapping[str, Any] | None = None,
    ) -> bool:
        """Audit something that changes nothing in force (dry run, target not found)."""

    def request_approval(
        self, planned: PlannedAction, *, actor: str, incident_id: str | None, key: str | None = None
    ) -> int | None:
        """Record a pending action; its id, or None when `key` was already used."""

    def approve(self, pending_id: int, *, actor: str) -> ContainmentEntry:
        """Apply a pending action; KeyError when there is no such pending action."""

    def pending(self) -> list[PendingAction]: ...

    def lift(self, action: Action, target: str | None, *, actor: str, reason: str) -> bool:
        """End an action in force; False when it was not in force."""

    def audit(self, limit: int = 100) -> list[AuditRecord]: ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('revision', 0);
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
"""

# The primary key cannot tell NULL targets apart, so "no target" is stored as the empty string.
_NO_TARGET = ""


class SqliteContainmentState:
    """The default `ContainmentState`: one SQLite file the receiver writes and apps read."""

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._conn = connect(path)
        self._conn.executescript(_SCHEMA)  # idempotent, so racing processes may all run it

    @classmethod
    def from_url(cls, url: str) -> SqliteContainmentState:
        return cls(sqlite_path(url))

    def _transaction(self) -> AbstractContextManager[sqlite3.Cursor]:
        return write_transaction(self._conn, self._lock)

    # -- reading ------------------------------------------------------------------------------------------

    def revision(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()[0]

    def read(self, now: float | None = None) -> StateView:
        now = time.time() if now is None else now
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN")  # one snapshot: the revision matches the rows
            try:
                revision = cur.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()[0]
                rows = cur.execute(
                    "SELECT action, target, params, incident_id, applied_by, applied_at, expires_at FROM active"
                    " WHERE expires_at IS NULL OR expires_at > ? ORDER BY applied_at, action, target", (now,)
                ).fetchall()
            finally:
                cur.execute("COMMIT")
        entries = tuple(
            ContainmentEntry(Action(a), t or None, json.loads(p), i, by, at, exp)
            for a, t, p, i, by, at, exp in rows
        )
        return StateView(revision, entries)

    def changed_since(self, revision: int) -> StateView | None:
        if self.revision() == revision:
            return None
        return self.read()

    def pending(self) -> list[PendingAction]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, action, target, params, ttl_s, incident_id, requested_by, requested_at FROM pending"
                " WHERE decided_at IS NULL ORDER BY id"
            ).fetchall()
        return [
            PendingAction(pid, PlannedAction(Action(a), t, json.loads(p), ttl), inc, by, at)
            for pid, a, t, p, ttl, inc, by, at in rows
        ]

    def audit(self, limit: int = 100) -> list[AuditRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT at, revision, change, action, target, incident_id, actor, detail FROM audit"
                " ORDER BY id DESC LIMIT ?", (limit,)
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
        self, change: Change, planned: PlannedAction, *, actor: str, incident_id: str | None,
        key: str | None = None, detail: Mapping[str, Any] | None = None,
    ) -> bool:  # fmt: skip
        with self._transaction() as cur:
            if not self._claim(cur, key):
                return False
            revision = cur.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()[0]
            self._audit(cur, revision, change, planned.action, planned.target, incident_id, actor,
                        {"params": dict(planned.params), **(detail or {})})
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
                (planned.action.value, planned.target, json.dumps(dict(planned.params)), planned.ttl_s,
                 incident_id, actor, time.time()),
            )
            pending_id = int(cur.lastrowid or 0)
            revision = self._bump(cur)
            self._audit(cur, revision, Change.PENDING, planned.action, planned.target, incident_id, actor,
                        {"pending_id": pending_id, "params": dict(planned.params)})
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
            cur.execute("UPDATE pending SET decided_by = ?, decided_at = ? WHERE id = ?",
                        (actor, time.time(), pending_id))
            planned = PlannedAction(Action(action), target, json.loads(params), ttl_s)
            return self._apply(cur, planned, actor, incident_id, Change.APPROVED)

    def lift(self, action: Action, target: str | None, *, actor: str, reason: str) -> bool:
        with self._transaction() as cur:
            cur.execute("DELETE FROM active WHERE action = ? AND target = ?", (action.value, target or _NO_TARGET))
            if cur.rowcount == 0:
                return False
            revision = self._bump(cur)
            self._audit(cur, revision, Change.LIFTED, action, target, None, actor, {"reason": reason})
        return True

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- inside a transaction -----------------------------------------------------------------------------

    def _apply(
        self, cur: sqlite3.Cursor, planned: PlannedAction, actor: str, incident_id: str | None, change: Change
    ) -> ContainmentEntry:
        now = time.time()
        entry = ContainmentEntry(
            planned.action, planned.target, dict(planned.params), incident_id, actor, now,
            None if planned.ttl_s is None else now + planned.ttl_s,
        )  # fmt: skip
        cur.execute(
            "INSERT OR REPLACE INTO active VALUES (?, ?, ?, ?, ?, ?, ?)",
            (entry.action.value, entry.target or _NO_TARGET, json.dumps(entry.params), incident_id, actor, now,
             entry.expires_at),
        )
        revision = self._bump(cur)
        self._audit(cur, revision, change, entry.action, entry.target, incident_id, actor,
                    {"params": entry.params, "expires_at": entry.expires_at})
        return entry

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
        cur: sqlite3.Cursor, revision: int, change: Change, action: Action, target: str | None,
        incident_id: str | None, actor: str, detail: Mapping[str, Any],
    ) -> None:  # fmt: skip
        cur.execute(
            "INSERT INTO audit (at, revision, change, action, target, incident_id, actor, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), revision, change.value, action.value, target, incident_id, actor, json.dumps(detail)),
        )
