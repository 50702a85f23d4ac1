"""When the team is reminded of an incident still open: every interval while a P1 is live, and at 48 h and
66 h of the GDPR Art. 33 clock while the incident is not closed.

Each reminder has a number `n` (the P1 interval count since the team learned of the incident, the hour of
the GDPR mark), and the store queues (incident, kind, n) once, so every receiver sharing a store may run the
scheduler: the reminder goes out once. A receiver that was down when a reminder came due sends only the
latest one that is due, not a burst of the missed ones. `now` is passed in, so tests run the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from otel_ai_incident.incidents.disclosure import breach_clock
from otel_ai_incident.incidents.model import EventKind, Incident, IncidentStatus
from otel_ai_incident.incidents.notifications import NotificationEvent
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.names import IncidentType, Severity

#: The design text's runbook: an update to the incident channel every 30 minutes during a P1.
DEFAULT_P1_INTERVAL_S = 30 * 60.0
#: Hours into the 72 h clock at which the team is reminded that the authority may have to be told.
GDPR_MARKS_H = (48, 66)
_LIVE = (IncidentStatus.OPEN, IncidentStatus.CONTAINED)
#: The most incidents one round looks at (newest first); far more than can be live at once.
SCAN_LIMIT = 1000


@dataclass(frozen=True)
class Reminder:
    event: NotificationEvent
    n: int
    at: float  # when it came due
    detail: dict[str, Any]


def due(incident: Incident, now: float, p1_interval_s: float = DEFAULT_P1_INTERVAL_S) -> list[Reminder]:
    """The latest reminder of each kind due for `incident` (with its timeline) at `now`."""
    reminders = []
    notified = incident.first(EventKind.NOTIFIED)
    if incident.severity == Severity.P1.value and incident.status in _LIVE and notified is not None:
        n = int((now - notified.at) // p1_interval_s)
        if n >= 1:
            at = notified.at + n * p1_interval_s
            reminders.append(Reminder(NotificationEvent.P1_REMINDER, n, at, {"n": n}))
    clock = breach_clock(incident, now)
    if clock is not None and incident.status is not IncidentStatus.CLOSED and not clock.overdue:
        passed = [h for h in GDPR_MARKS_H if now - clock.aware_at >= h * 3600]
        if passed:
            hours = passed[-1]
            detail = {"hours": hours, "deadline": clock.deadline}
            reminders.append(Reminder(NotificationEvent.GDPR_REMINDER, hours, clock.aware_at + hours * 3600, detail))
    return reminders


def enqueue_due(store: IncidentStore, now: float, p1_interval_s: float = DEFAULT_P1_INTERVAL_S) -> int:
    """Queue every reminder due at `now` that no process queued before; how many were queued now."""
    queued = 0
    for summary in store.list(limit=SCAN_LIMIT):
        if not _may_be_due(summary):
            continue
        incident = store.get(summary.id)
        if incident is None:
            continue
        for reminder in due(incident, now, p1_interval_s):
            queued += store.enqueue_reminder(incident.id, reminder.event, reminder.n, reminder.at, reminder.detail)
    return queued


def _may_be_due(incident: Incident) -> bool:
    """Whether an incident (without its timeline) can have a reminder due, so only those are read in full."""
    if incident.severity == Severity.P1.value and incident.status in _LIVE:
        return True
    return incident.incident_type == IncidentType.DATA_LEAKAGE and incident.status is not IncidentStatus.CLOSED
