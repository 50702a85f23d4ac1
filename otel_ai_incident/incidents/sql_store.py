"""The incident store on SQLite or PostgreSQL: one implementation of `IncidentStore` in portable SQL.

Timeline events take an idempotency key so a notification delivered twice (Alertmanager HA pairs do that
by design) leaves one event. Opening an incident locks its alert episodes and its group first (an advisory
lock in PostgreSQL; SQLite's write transaction excludes every other writer anyway), so receivers racing on
the same alert agree on one incident. The rule "no close without a root cause" is checked in the same
transaction as the close.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any

from otel_ai_incident.incidents import schema
from otel_ai_incident.incidents.model import (
    TRANSITIONS,
    BlastRadius,
    EventKind,
    Incident,
    IncidentRCA,
    IncidentStatus,
    Replay,
    TimelineEvent,
)
from otel_ai_incident.incidents.store import ERASED, IncidentStore, new_incident_id
from otel_ai_incident.storage.sql import Cursor, SqlDatabase, open_sql_database

_COLUMNS = "id, group_key, title, incident_type, severity, signals, status, opened_at, updated_at, blast_radius"
_LIVE = "status <> 'closed'"
_ID_ATTEMPTS = 5


def open_incident_store(url: str) -> IncidentStore:
    """The incident store a URL names: `sqlite:///path.db` or `postgresql://user@host:port/db`.

    SQLite commits are not fsynced one by one: sharing the inbox's file (as `serve` sets it up), a power cut
    loses only writes made after the last acknowledged notification, which the inbox then replays.
    """
    return SqlIncidentStore(
        open_sql_database(
            url,
            store="incident store",
            component=schema.COMPONENT,
            sqlite_migrations=schema.SQLITE_MIGRATIONS,
            postgres_migrations=schema.POSTGRES_MIGRATIONS,
            durable=False,
        )
    )


class SqlIncidentStore:
    """Implements `IncidentStore` on a `SqlDatabase`."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    def open_for_group(
        self,
        group_key: str,
        *,
        episodes: Collection[str] = (),
        title: str,
        incident_type: str,
        severity: str,
        signals: Iterable[str],
        at: float,
    ) -> Incident:
        episodes = sorted(set(episodes))
        signals = set(signals)
        with self._db.transaction() as cur:
            for name in sorted({group_key, *episodes}):
                self._db.lock(cur, f"aii-incident|{name}")
            row = _live_incident_of(cur, group_key, episodes)
            if row is None:
                incident = _insert_incident(cur, group_key, title, incident_type, severity, signals, at)
            else:
                current = _incident(row)
                merged = tuple(sorted({*current.signals, *signals}))
                worst = min(current.severity, severity)  # "p1" < "p2" < "p3"
                now = time.time()
                cur.execute(
                    "UPDATE incidents SET signals = %s, severity = %s, updated_at = %s WHERE id = %s",
                    (json.dumps(merged), worst, now, current.id),
                )
                incident = replace(current, severity=worst, signals=merged, updated_at=now)
            for episode in episodes:
                cur.execute(
                    "INSERT INTO episodes (episode, incident_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (episode, incident.id),
                )
        return incident

    def add_event(
        self,
        incident_id: str,
        kind: EventKind,
        at: float,
        detail: Mapping[str, Any] | None = None,
        key: str | None = None,
    ) -> bool:
        with self._db.transaction() as cur:
            cur.execute(
                "INSERT INTO timeline (incident_id, kind, at, detail, key) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (incident_id, kind.value, at, json.dumps(dict(detail or {})), key),
            )
            added = cur.rowcount == 1
            if added:
                _touch(cur, incident_id)
        return added

    def transition(
        self, incident_id: str, status: IncidentStatus, at: float, by: str, *, blast_radius: BlastRadius | None = None
    ) -> bool:
        with self._db.transaction() as cur:
            row = cur.execute("SELECT status FROM incidents WHERE id = %s", (incident_id,)).fetchone()
            if row is None or status not in TRANSITIONS[IncidentStatus(row[0])]:
                return False
            if (
                status is IncidentStatus.CLOSED
                and cur.execute("SELECT 1 FROM rca WHERE incident_id = %s", (incident_id,)).fetchone() is None
            ):
                return False
            kept = (
                json.dumps(blast_radius.to_json())
                if status is IncidentStatus.CLOSED and blast_radius is not None
                else None
            )
            cur.execute(
                "UPDATE incidents SET status = %s, blast_radius = %s WHERE id = %s", (status.value, kept, incident_id)
            )
            _append(cur, incident_id, EventKind.STATUS_CHANGED, at, {"from": row[0], "to": status.value, "by": by})
        return True

    def record_rca(self, rca: IncidentRCA, at: float) -> bool:
        with self._db.transaction() as cur:
            row = cur.execute("SELECT status FROM incidents WHERE id = %s", (rca.incident_id,)).fetchone()
            if row is None or row[0] == IncidentStatus.CLOSED:
                return False
            cur.execute(
                "INSERT INTO rca (incident_id, data) VALUES (%s, %s) "
                "ON CONFLICT (incident_id) DO UPDATE SET data = excluded.data",
                (rca.incident_id, json.dumps(rca.to_json())),
            )
            _append(cur, rca.incident_id, EventKind.RCA_RECORDED, at, {"category": rca.root_cause_category.value})
        return True

    def record_replay(self, incident_id: str, replay: Replay) -> bool:
        with self._db.transaction() as cur:
            if cur.execute("SELECT 1 FROM incidents WHERE id = %s", (incident_id,)).fetchone() is None:
                return False
            cur.execute(
                "INSERT INTO replays (incident_id, data) VALUES (%s, %s)", (incident_id, json.dumps(replay.to_json()))
            )
            detail = {"log_id": replay.log_id, "reproduced": replay.reproduced}
            _append(cur, incident_id, EventKind.REPLAYED, replay.at, detail)
        return True

    def get(self, incident_id: str) -> Incident | None:
        with self._db.read() as cur:
            row = cur.execute(f"SELECT {_COLUMNS} FROM incidents WHERE id = %s", (incident_id,)).fetchone()
            if row is None:
                return None
            events = cur.execute(
                "SELECT kind, at, detail FROM timeline WHERE incident_id = %s ORDER BY at, id", (incident_id,)
            ).fetchall()
            rca = cur.execute("SELECT data FROM rca WHERE incident_id = %s", (incident_id,)).fetchone()
            replays = cur.execute(
                "SELECT data FROM replays WHERE incident_id = %s ORDER BY id", (incident_id,)
            ).fetchall()
        timeline = tuple(TimelineEvent(EventKind(k), at, json.loads(d)) for k, at, d in events)
        return replace(
            _incident(row, timeline),
            rca=IncidentRCA.from_json(json.loads(rca[0])) if rca else None,
            replays=tuple(Replay.from_json(json.loads(data)) for (data,) in replays),
        )

    def list(self, *, status: IncidentStatus | None = None, limit: int = 100) -> list[Incident]:
        query = f"SELECT {_COLUMNS} FROM incidents"
        args: tuple[Any, ...] = ()
        if status is not None:
            query, args = query + " WHERE status = %s", (status.value,)
        with self._db.read() as cur:
            rows = cur.execute(query + " ORDER BY opened_at DESC, id LIMIT %s", (*args, limit)).fetchall()
        return [_incident(r) for r in rows]

    def forget_pseudonyms(self, pseudonyms: Collection[str]) -> int:
        changed = 0
        with self._db.transaction() as cur:
            for pseudonym in sorted(set(filter(None, pseudonyms))):
                rows = cur.execute(
                    "SELECT id, detail FROM timeline WHERE detail LIKE %s", (f"%{pseudonym}%",)
                ).fetchall()
                for event_id, detail in rows:
                    cur.execute(
                        "UPDATE timeline SET detail = %s WHERE id = %s", (detail.replace(pseudonym, ERASED), event_id)
                    )
                changed += len(rows)
        return changed

    def close(self) -> None:
        self._db.close()


def _live_incident_of(cur: Cursor, group_key: str, episodes: list[str]) -> tuple[Any, ...] | None:
    """The oldest live incident holding one of the episodes, else the group's live incident."""
    if episodes:
        marks = ", ".join(["%s"] * len(episodes))
        row = cur.execute(
            f"SELECT {_COLUMNS} FROM incidents WHERE {_LIVE} AND id IN "
            f"(SELECT incident_id FROM episodes WHERE episode IN ({marks})) ORDER BY opened_at, id LIMIT 1",
            episodes,
        ).fetchone()
        if row is not None:
            return tuple(row)
    row = cur.execute(f"SELECT {_COLUMNS} FROM incidents WHERE group_key = %s AND {_LIVE}", (group_key,)).fetchone()
    return None if row is None else tuple(row)


def _insert_incident(
    cur: Cursor, group_key: str, title: str, incident_type: str, severity: str, signals: set[str], at: float
) -> Incident:
    """A new incident under a fresh id (another on the rare collision of the random part)."""
    for _ in range(_ID_ATTEMPTS):
        incident = Incident(
            new_incident_id(at),
            group_key,
            title,
            incident_type,
            severity,
            tuple(sorted(signals)),
            IncidentStatus.OPEN,
            at,
            time.time(),
        )
        cur.execute(
            f"INSERT INTO incidents ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO NOTHING",
            _row(incident),
        )
        if cur.rowcount == 1:
            return incident
    raise RuntimeError(f"no free incident id after {_ID_ATTEMPTS} attempts")


def _append(cur: Cursor, incident_id: str, kind: EventKind, at: float, detail: Mapping[str, Any]) -> None:
    cur.execute(
        "INSERT INTO timeline (incident_id, kind, at, detail) VALUES (%s, %s, %s, %s)",
        (incident_id, kind.value, at, json.dumps(dict(detail))),
    )
    _touch(cur, incident_id)


def _touch(cur: Cursor, incident_id: str) -> None:
    cur.execute("UPDATE incidents SET updated_at = %s WHERE id = %s", (time.time(), incident_id))


def _row(incident: Incident) -> tuple[Any, ...]:
    return (
        incident.id,
        incident.group_key,
        incident.title,
        incident.incident_type,
        incident.severity,
        json.dumps(list(incident.signals)),
        incident.status.value,
        incident.opened_at,
        incident.updated_at,
        json.dumps(incident.blast_radius.to_json()) if incident.blast_radius is not None else None,
    )


def _incident(row: tuple[Any, ...], timeline: tuple[TimelineEvent, ...] = ()) -> Incident:
    iid, group_key, title, incident_type, severity, signals, status, opened_at, updated_at, radius = row
    return Incident(
        iid,
        group_key,
        title,
        incident_type,
        severity,
        tuple(json.loads(signals)),
        IncidentStatus(status),
        opened_at,
        updated_at,
        timeline,
        blast_radius=BlastRadius.from_json(json.loads(radius)) if radius is not None else None,
    )
