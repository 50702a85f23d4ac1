"""The incident store on SQLite or PostgreSQL: one implementation of `IncidentStore` in portable SQL.

Timeline events take an idempotency key so a notification delivered twice (Alertmanager HA pairs do that
by design) leaves one event. Opening an incident locks its alert episodes and its group first (an advisory
lock in PostgreSQL; SQLite's write transaction excludes every other writer anyway), so receivers racing on
the same alert agree on one incident. The rule "no close without a root cause" is checked in the same
transaction as the close, and each update for the team goes into the outbox in the transaction of the
change that causes it. The outbox is claimed like the receiver's inbox (`storage.sql.claim_rows`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any

from otel_ai_incident.incidents import notifications, schema
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
from otel_ai_incident.incidents.notifications import Delivery, NotificationEvent, OutboxMessage
from otel_ai_incident.incidents.store import ERASED, IncidentStore, new_incident_id
from otel_ai_incident.storage.sql import Cursor, SqlDatabase, claim_rows, open_sql_database

_COLUMNS = "id, group_key, title, incident_type, severity, signals, status, opened_at, updated_at, blast_radius"
_LIVE = "status <> 'closed'"
_UNFINISHED = "finished_at IS NULL"
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
                _enqueue(cur, incident.id, NotificationEvent.OPENED, at, {}, f"opened|{incident.id}")
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
            row = cur.execute(
                "INSERT INTO timeline (incident_id, kind, at, detail, key) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING RETURNING id",
                (incident_id, kind.value, at, json.dumps(dict(detail or {})), key),
            ).fetchone()
            if row is None:
                return False
            _touch(cur, incident_id)
            event = notifications.FOR_EVENT.get(kind)
            if event is not None:
                _enqueue(cur, incident_id, event, at, notifications.shared_detail(detail or {}), f"timeline|{row[0]}")
        return True

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
            detail = {"from": row[0], "to": status.value, "by": by}
            event_id = _append(cur, incident_id, EventKind.STATUS_CHANGED, at, detail)
            event = notifications.FOR_STATUS.get(status)
            if event is not None:
                _enqueue(cur, incident_id, event, at, notifications.shared_detail(detail), f"timeline|{event_id}")
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

    def enqueue_reminder(
        self, incident_id: str, event: NotificationEvent, n: int, at: float, detail: Mapping[str, Any]
    ) -> bool:
        with self._db.transaction() as cur:
            row = cur.execute("SELECT status FROM incidents WHERE id = %s", (incident_id,)).fetchone()
            if row is None or row[0] == IncidentStatus.CLOSED:
                return False
            return _enqueue(cur, incident_id, event, at, detail, f"{event.value}|{incident_id}|{n}")

    def route_notifications(self, routes: Mapping[NotificationEvent, Collection[str]], *, limit: int, at: float) -> int:
        db = self._db
        with db.transaction() as cur:
            rows = cur.execute(
                f"SELECT id, event FROM outbox WHERE routed_at IS NULL ORDER BY id LIMIT %s{db.skip_locked}", (limit,)
            ).fetchall()
            for message_id, event in rows:
                for target in sorted(set(routes.get(NotificationEvent(event), ()))):
                    cur.execute(
                        "INSERT INTO deliveries (message_id, target) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                        (message_id, target),
                    )
                cur.execute("UPDATE outbox SET routed_at = %s WHERE id = %s", (at, message_id))
        return len(rows)

    def claim_deliveries(self, target: str, owner: str, *, limit: int, lease_s: float, now: float) -> list[Delivery]:
        db = self._db
        with db.transaction() as cur:
            claimed = claim_rows(
                db,
                cur,
                "deliveries",
                unfinished=f"{_UNFINISHED} AND target = %s",
                params=(target,),
                owner=owner,
                lease_s=lease_s,
                now=now,
                limit=limit,
                returning="id, message_id, attempts",
            )
            deliveries = []
            for delivery_id, message_id, attempts in claimed:
                row = cur.execute(
                    "SELECT id, incident_id, event, at, detail, created_at FROM outbox WHERE id = %s", (message_id,)
                ).fetchone()
                deliveries.append(Delivery(int(delivery_id), target, int(attempts), _message(row)))
        return sorted(deliveries, key=lambda d: d.id)

    def retry_delivery(self, delivery_id: int, *, error: str, not_before: float) -> None:
        with self._db.transaction() as cur:
            cur.execute(
                "UPDATE deliveries SET claimed_by = NULL, lease_until = %s, error = %s "
                f"WHERE id = %s AND {_UNFINISHED}",
                (not_before, error, delivery_id),
            )

    def finish_delivery(self, delivery_id: int, *, error: str | None, at: float) -> None:
        with self._db.transaction() as cur:
            _finish_delivery(cur, delivery_id, error, at)

    def drop_deliveries(self, keep: Collection[str], *, reason: str, at: float) -> int:
        kept = sorted(set(keep))
        condition = f"target NOT IN ({', '.join(['%s'] * len(kept))})" if kept else "TRUE"
        db = self._db
        with db.transaction() as cur:
            rows = cur.execute(
                f"SELECT id FROM deliveries WHERE {_UNFINISHED} AND {condition} "
                f"AND (lease_until IS NULL OR lease_until <= %s) ORDER BY id{db.skip_locked}",
                (*kept, at),
            ).fetchall()
            for (delivery_id,) in rows:
                _finish_delivery(cur, delivery_id, reason, at)
        return len(rows)

    def notification_backlog(self) -> tuple[int, float | None]:
        with self._db.read() as cur:
            count, oldest = cur.execute(
                "SELECT count(*), min(created_at) FROM outbox WHERE routed_at IS NULL OR id IN "
                f"(SELECT message_id FROM deliveries WHERE {_UNFINISHED})"
            ).fetchone()
        return int(count), None if oldest is None else float(oldest)

    def prune_notifications(self, finished_before: float, *, limit: int) -> int:
        db = self._db
        reminders = sorted(e.value for e in notifications.REMINDERS)
        with db.transaction() as cur:
            ids = [
                row[0]
                for row in cur.execute(
                    "SELECT id FROM outbox WHERE routed_at < %s AND NOT EXISTS (SELECT 1 FROM deliveries "
                    f"WHERE message_id = outbox.id AND ({_UNFINISHED} OR finished_at >= %s)) "
                    f"AND (event NOT IN ({', '.join(['%s'] * len(reminders))}) OR NOT EXISTS "
                    f"(SELECT 1 FROM incidents WHERE id = outbox.incident_id AND {_LIVE})) "
                    f"ORDER BY id LIMIT %s{db.skip_locked}",
                    (finished_before, finished_before, *reminders, limit),
                ).fetchall()
            ]
            if ids:
                marks = ", ".join(["%s"] * len(ids))
                cur.execute(f"DELETE FROM deliveries WHERE message_id IN ({marks})", ids)
                cur.execute(f"DELETE FROM outbox WHERE id IN ({marks})", ids)
        return len(ids)

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


def _append(cur: Cursor, incident_id: str, kind: EventKind, at: float, detail: Mapping[str, Any]) -> int:
    """Add a timeline event; its row id."""
    row = cur.execute(
        "INSERT INTO timeline (incident_id, kind, at, detail) VALUES (%s, %s, %s, %s) RETURNING id",
        (incident_id, kind.value, at, json.dumps(dict(detail))),
    ).fetchone()
    _touch(cur, incident_id)
    return int(row[0])


def _enqueue(
    cur: Cursor, incident_id: str, event: NotificationEvent, at: float, detail: Mapping[str, Any], key: str
) -> bool:
    """Queue an update unless one with `key` was queued before; whether it was queued now."""
    cur.execute(
        "INSERT INTO outbox (incident_id, event, at, detail, key, created_at) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (key) DO NOTHING",
        (incident_id, event.value, at, json.dumps(dict(detail)), key, time.time()),
    )
    return cur.rowcount == 1


def _finish_delivery(cur: Cursor, delivery_id: int, error: str | None, at: float) -> None:
    """Finish an unfinished delivery and put it on its incident's timeline (nothing when finished)."""
    row = cur.execute(
        "UPDATE deliveries SET finished_at = %s, claimed_by = NULL, lease_until = NULL, error = %s "
        f"WHERE id = %s AND {_UNFINISHED} RETURNING message_id, target, attempts",
        (at, error, delivery_id),
    ).fetchone()
    if row is None:
        return
    message_id, target, attempts = row
    incident_id, event = cur.execute("SELECT incident_id, event FROM outbox WHERE id = %s", (message_id,)).fetchone()
    detail: dict[str, Any] = {"event": event, "target": target, "attempts": int(attempts)}
    if error is None:
        _append(cur, incident_id, EventKind.NOTIFICATION_DELIVERED, at, detail)
    else:
        _append(cur, incident_id, EventKind.NOTIFICATION_FAILED, at, {**detail, "error": error})


def _message(row: tuple[Any, ...]) -> OutboxMessage:
    message_id, incident_id, event, at, detail, created_at = row
    return OutboxMessage(
        int(message_id), incident_id, NotificationEvent(event), float(at), json.loads(detail), float(created_at)
    )


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
