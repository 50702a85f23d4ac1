"""Durable incidents in SQLite: one open incident per Alertmanager group, with its timeline.

Timeline events take an optional idempotency key so a notification delivered twice (Alertmanager HA pairs
do that by design) leaves one event, and a partial index keeps one non-closed incident per group even when
two receivers share the file. The root cause and the replays the investigation adds live beside them; the
rule "no close without a root cause" is checked in the same transaction as the close.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

from otel_ai_incident.incidents.model import (
    TRANSITIONS,
    EventKind,
    Incident,
    IncidentRCA,
    IncidentStatus,
    Replay,
    TimelineEvent,
)
from otel_ai_incident.storage.sqlite import connect, sqlite_path, write_transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY, group_key TEXT NOT NULL, title TEXT NOT NULL, incident_type TEXT NOT NULL,
    severity TEXT NOT NULL, signals TEXT NOT NULL, status TEXT NOT NULL, opened_at REAL NOT NULL,
    updated_at REAL NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS one_live_incident_per_group ON incidents (group_key) WHERE status != 'closed';
CREATE TABLE IF NOT EXISTS timeline (
    id INTEGER PRIMARY KEY AUTOINCREMENT, incident_id TEXT NOT NULL REFERENCES incidents (id),
    kind TEXT NOT NULL, at REAL NOT NULL, detail TEXT NOT NULL, key TEXT UNIQUE);
CREATE INDEX IF NOT EXISTS timeline_by_incident ON timeline (incident_id, at);
CREATE TABLE IF NOT EXISTS rca (incident_id TEXT PRIMARY KEY REFERENCES incidents (id), data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS replays (
    id INTEGER PRIMARY KEY AUTOINCREMENT, incident_id TEXT NOT NULL REFERENCES incidents (id), data TEXT NOT NULL);
"""
_COLUMNS = "id, group_key, title, incident_type, severity, signals, status, opened_at, updated_at"


def new_incident_id(now: float) -> str:
    """Readable on a call (date first) and unique without coordination (random suffix)."""
    return f"INC-{time.strftime('%Y%m%d', time.gmtime(now))}-{secrets.token_hex(3)}"


class SqliteIncidentStore:
    """Writes are not fsynced one by one: sharing the inbox's file (as `serve` sets it up), a power cut loses
    only writes made after the last acknowledged notification, which the inbox then replays idempotently."""

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._conn = connect(path, durable=False)
        self._conn.executescript(_SCHEMA)

    @classmethod
    def from_url(cls, url: str) -> SqliteIncidentStore:
        return cls(sqlite_path(url))

    def _transaction(self) -> AbstractContextManager[sqlite3.Cursor]:
        return write_transaction(self._conn, self._lock)

    def open_for_group(
        self, group_key: str, *, title: str, incident_type: str, severity: str, signals: Iterable[str], at: float
    ) -> Incident:
        """The group's live incident, updated with these signals and the highest severity; new if none."""
        with self._transaction() as cur:
            row = cur.execute(f"SELECT {_COLUMNS} FROM incidents WHERE group_key = ? AND status != 'closed'",
                              (group_key,)).fetchone()
            now = time.time()
            if row is None:
                incident = Incident(new_incident_id(at), group_key, title, incident_type, severity,
                                    tuple(sorted(set(signals))), IncidentStatus.OPEN, at, now)
                cur.execute(f"INSERT INTO incidents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            _row(incident))
                return incident
            current = _incident(row)
            merged = tuple(sorted({*current.signals, *signals}))
            worst = min(current.severity, severity)  # "p1" < "p2" < "p3"
            cur.execute("UPDATE incidents SET signals = ?, severity = ?, updated_at = ? WHERE id = ?",
                        (json.dumps(merged), worst, now, current.id))
            return Incident(current.id, group_key, current.title, current.incident_type, worst, merged,
                            current.status, current.opened_at, now)

    def add_event(
        self, incident_id: str, kind: EventKind, at: float, detail: Mapping[str, Any] | None = None,
        key: str | None = None,
    ) -> bool:  # fmt: skip
        """Append to the timeline; False when `key` was recorded before."""
        with self._transaction() as cur:
            cur.execute("INSERT OR IGNORE INTO timeline (incident_id, kind, at, detail, key) VALUES (?, ?, ?, ?, ?)",
                        (incident_id, kind.value, at, json.dumps(dict(detail or {})), key))
            added = cur.rowcount == 1
            if added:
                cur.execute("UPDATE incidents SET updated_at = ? WHERE id = ?", (time.time(), incident_id))
        return added

    def transition(self, incident_id: str, status: IncidentStatus, at: float, by: str) -> bool:
        """Move to `status` if the lifecycle allows it from the current one; the change goes on the timeline.

        Closing also needs a recorded root cause: a closed incident is final, and one closed without knowing
        why it happened teaches nothing and prevents nothing.
        """
        with self._transaction() as cur:
            row = cur.execute("SELECT status FROM incidents WHERE id = ?", (incident_id,)).fetchone()
            if row is None or status not in TRANSITIONS[IncidentStatus(row[0])]:
                return False
            if status is IncidentStatus.CLOSED and not cur.execute(
                    "SELECT 1 FROM rca WHERE incident_id = ?", (incident_id,)).fetchone():
                return False
            cur.execute("UPDATE incidents SET status = ?, updated_at = ? WHERE id = ?",
                        (status.value, time.time(), incident_id))
            cur.execute("INSERT INTO timeline (incident_id, kind, at, detail) VALUES (?, ?, ?, ?)",
                        (incident_id, EventKind.STATUS_CHANGED.value, at,
                         json.dumps({"from": row[0], "to": status.value, "by": by})))
        return True

    def record_rca(self, rca: IncidentRCA, at: float) -> bool:
        """Record (or replace) the incident's root cause; False when the incident is missing or closed."""
        with self._transaction() as cur:
            row = cur.execute("SELECT status FROM incidents WHERE id = ?", (rca.incident_id,)).fetchone()
            if row is None or row[0] == IncidentStatus.CLOSED:
                return False
            cur.execute("INSERT OR REPLACE INTO rca (incident_id, data) VALUES (?, ?)",
                        (rca.incident_id, json.dumps(rca.to_json())))
            cur.execute("INSERT INTO timeline (incident_id, kind, at, detail) VALUES (?, ?, ?, ?)",
                        (rca.incident_id, EventKind.RCA_RECORDED.value, at,
                         json.dumps({"category": rca.root_cause_category.value})))
            cur.execute("UPDATE incidents SET updated_at = ? WHERE id = ?", (time.time(), rca.incident_id))
        return True

    def record_replay(self, incident_id: str, replay: Replay) -> bool:
        """Keep a replay's result with the incident, and put it on the timeline; False when there is no incident."""
        with self._transaction() as cur:
            if cur.execute("SELECT 1 FROM incidents WHERE id = ?", (incident_id,)).fetchone() is None:
                return False
            cur.execute("INSERT INTO replays (incident_id, data) VALUES (?, ?)",
                        (incident_id, json.dumps(replay.to_json())))
            cur.execute("INSERT INTO timeline (incident_id, kind, at, detail) VALUES (?, ?, ?, ?)",
                        (incident_id, EventKind.REPLAYED.value, replay.at,
                         json.dumps({"log_id": replay.log_id, "reproduced": replay.reproduced})))
            cur.execute("UPDATE incidents SET updated_at = ? WHERE id = ?", (time.time(), incident_id))
        return True

    def get(self, incident_id: str) -> Incident | None:
        with self._lock:
            conn = self._conn
            row = conn.execute(f"SELECT {_COLUMNS} FROM incidents WHERE id = ?", (incident_id,)).fetchone()
            if row is None:
                return None
            events = conn.execute(
                "SELECT kind, at, detail FROM timeline WHERE incident_id = ? ORDER BY at, id", (incident_id,)
            ).fetchall()
            rca = conn.execute("SELECT data FROM rca WHERE incident_id = ?", (incident_id,)).fetchone()
            replays = conn.execute("SELECT data FROM replays WHERE incident_id = ? ORDER BY id",
                                   (incident_id,)).fetchall()
        timeline = tuple(TimelineEvent(EventKind(k), at, json.loads(d)) for k, at, d in events)
        return replace(_incident(row, timeline),
                       rca=IncidentRCA.from_json(json.loads(rca[0])) if rca else None,
                       replays=tuple(Replay.from_json(json.loads(data)) for data, in replays))

    def list(self, *, status: IncidentStatus | None = None, limit: int = 100) -> list[Incident]:
        """Newest first, without timelines (use `get` for one incident's)."""
        query = f"SELECT {_COLUMNS} FROM incidents"
        args: tuple[Any, ...] = ()
        if status is not None:
            query, args = query + " WHERE status = ?", (status.value,)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY opened_at DESC LIMIT ?", (*args, limit)).fetchall()
        return [_incident(r) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _row(incident: Incident) -> tuple[Any, ...]:
    return (incident.id, incident.group_key, incident.title, incident.incident_type, incident.severity,
            json.dumps(list(incident.signals)), incident.status.value, incident.opened_at, incident.updated_at)


def _incident(row: tuple[Any, ...], timeline: tuple[TimelineEvent, ...] = ()) -> Incident:
    iid, group_key, title, incident_type, severity, signals, status, opened_at, updated_at = row
    return Incident(iid, group_key, title, incident_type, severity, tuple(json.loads(signals)),
                    IncidentStatus(status), opened_at, updated_at, timeline)
