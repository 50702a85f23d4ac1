"""An incident: what the receiver opens per Alertmanager group and what responders work through.

Kept to plain data so RCA, replay and post-mortems can build on it without the receiver's machinery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class IncidentStatus(StrEnum):
    OPEN = "open"
    CONTAINED = "contained"
    RESOLVED = "resolved"
    CLOSED = "closed"


# Where each status may go. A resolved incident reopens when its alerts fire again; closed is final.
TRANSITIONS: Mapping[IncidentStatus, frozenset[IncidentStatus]] = {
    IncidentStatus.OPEN: frozenset({IncidentStatus.CONTAINED, IncidentStatus.RESOLVED, IncidentStatus.CLOSED}),
    IncidentStatus.CONTAINED: frozenset({IncidentStatus.RESOLVED, IncidentStatus.CLOSED}),
    IncidentStatus.RESOLVED: frozenset({IncidentStatus.OPEN, IncidentStatus.CLOSED}),
    IncidentStatus.CLOSED: frozenset(),
}


class EventKind(StrEnum):
    MONITORING_FIRED = "monitoring_fired"  # at the alert's startsAt
    NOTIFIED = "notified"  # when the receiver got the notification
    CONTAINMENT_APPLIED = "containment_applied"
    CONTAINMENT_PENDING = "containment_pending"
    CONTAINMENT_DRY_RUN = "containment_dry_run"
    CONTAINMENT_NO_TARGET = "containment_no_target"
    NO_PLAYBOOK = "no_playbook"
    RESOLVED = "resolved"  # at the alert's endsAt
    STATUS_CHANGED = "status_changed"


@dataclass(frozen=True)
class TimelineEvent:
    kind: EventKind
    at: float  # Unix time of the event itself, not of its recording
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Incident:
    id: str
    group_key: str
    title: str
    incident_type: str
    severity: str
    signals: tuple[str, ...]
    status: IncidentStatus
    opened_at: float
    updated_at: float
    timeline: tuple[TimelineEvent, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["signals"] = list(self.signals)
        data["timeline"] = [{"kind": e.kind.value, "at": e.at, "detail": dict(e.detail)} for e in self.timeline]
        return data
