"""What the fleet demo asserts once its scenarios ran, from the shared stores themselves.

- Blast radius counted exactly across replicas: the PII incident's blast radius, computed from the one
  prompt log every replica wrote to, counts exactly the leaking turns the replicas answered, and the one
  attacker as one user (one pseudonym key for the fleet).
- One action per alert: no incident has a containment action applied more often than it has alerts that
  fired (an incident may group several, e.g. one per PII entity type), though every notification reached
  both receivers through both Alertmanagers.
- Nothing lost: no accepted notification left unfinished after a receiver was killed mid-run.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from otel_ai_incident.containment.state import Change, open_containment_state
from otel_ai_incident.demo.driver import Driver
from otel_ai_incident.incidents import blast_radius
from otel_ai_incident.incidents.model import EventKind
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.promptlog.backends import open_store
from otel_ai_incident.promptlog.evidence import SignalEvidence
from otel_ai_incident.server.inbox.sql_store import open_inbox
from otel_ai_incident.signals import BUILTIN_SIGNALS

LEAK_KIND = "leak"
PII_SIGNAL = "pii_detection_in_output"
DRAIN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class FleetVerification:
    leak_turns_answered: dict[str, int]  # by replica, as the driver saw them
    blast_radius_entries: int | None
    blast_radius_users: int | None
    actions_applied_too_often: tuple[str, ...]
    pending_notifications: int
    finished_notifications: int

    @property
    def ok(self) -> bool:
        return (
            self.blast_radius_entries == sum(self.leak_turns_answered.values())
            and self.blast_radius_users == 1
            and not self.actions_applied_too_often
            and self.pending_notifications == 0
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "leak_turns_answered": self.leak_turns_answered,
            "blast_radius_entries": self.blast_radius_entries,
            "blast_radius_users": self.blast_radius_users,
            "actions_applied_too_often": list(self.actions_applied_too_often),
            "pending_notifications": self.pending_notifications,
            "finished_notifications": self.finished_notifications,
            "ok": self.ok,
        }


def verify_fleet(database_url: str, driver: Driver, pii_incident_id: str | None) -> FleetVerification:
    inbox = open_inbox(database_url)
    incidents = open_incident_store(database_url)
    log = open_store(database_url)
    state = open_containment_state(database_url)
    try:
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while inbox.count(pending=True) and time.monotonic() < deadline:
            time.sleep(0.2)
        radius = None
        if pii_incident_id is not None:
            evidence = SignalEvidence(BUILTIN_SIGNALS)  # the demo runs the built-in catalogue
            radius = blast_radius.assess(incidents, log, evidence, pii_incident_id, time.time())
        applied = Counter(
            (r.incident_id, r.action, r.target) for r in state.audit(limit=100_000) if r.change is Change.APPLIED
        )
        alerts = {incident.id: _alerts_fired(incidents, incident.id) for incident in incidents.list(limit=1000)}
        leaks = Counter({replica or "?": n for (kind, replica), n in driver.answered.items() if kind == LEAK_KIND})
        twice = sorted(
            f"{incident} {action} {target or ''}: {n} times, {alerts.get(incident or '', 0)} alerts"
            for (incident, action, target), n in applied.items()
            if n > alerts.get(incident or "", 0)
        )
        return FleetVerification(
            leak_turns_answered=dict(sorted(leaks.items())),
            blast_radius_entries=None if radius is None else radius.entries,
            blast_radius_users=None if radius is None else radius.users,
            actions_applied_too_often=tuple(twice),
            pending_notifications=inbox.count(pending=True),
            finished_notifications=inbox.count(pending=False),
        )
    finally:
        for store in (inbox, incidents, log, state):
            store.close()


def _alerts_fired(incidents: IncidentStore, incident_id: str) -> int:
    """Distinct alerts that fired for the incident (the timeline keeps one event per alert episode)."""
    incident = incidents.get(incident_id)
    return 0 if incident is None else sum(1 for e in incident.timeline if e.kind is EventKind.MONITORING_FIRED)
