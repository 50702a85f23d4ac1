"""Who an incident reached, from the prompt log: the turns that show its signals, their users and sessions.

The turns are those the loaded catalogue's `SignalEvidence` counts for each signal, so the blast radius counts
what the alert counted, turn by turn, for a signal from a signals file as for a built-in. Assessing also flags
those turns for the incident, so retention keeps every turn the report counts until it closes.

The window runs from the first occurrence (the earliest matching turn in the detection window before
monitoring fired, recorded once on the timeline) to the resolution, or to now while the incident is live.
Closing keeps the count on the incident (`recorded`), since retention may delete the turns afterwards.
"""

from __future__ import annotations

from otel_ai_incident.incidents.model import BlastRadius, EventKind, Incident, IncidentStatus
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.promptlog.evidence import SignalEvidence
from otel_ai_incident.promptlog.store import PromptLogStore

# How far before monitoring fired a signal's first occurrence is looked for when the catalogue does not say.
DEFAULT_LOOKBACK_S = 1800.0


def monitoring_fired_at(incident: Incident) -> float:
    fired = incident.first(EventKind.MONITORING_FIRED)
    return fired.at if fired is not None else incident.opened_at


def first_occurrence(log: PromptLogStore, evidence: SignalEvidence, incident: Incident) -> PromptLogEntry | None:
    """The earliest matching turn within the signals' detection windows before monitoring fired."""
    fired = monitoring_fired_at(incident)
    lookback = evidence.lookback(incident.signals, DEFAULT_LOOKBACK_S)
    entries = evidence.matching_entries(log, incident.signals, fired - lookback, fired)
    return entries[0] if entries else None


def window(incident: Incident, now: float) -> tuple[float, float]:
    """From the first occurrence (else monitoring firing) to the resolution (else the close, else now)."""
    first = incident.first(EventKind.FIRST_OCCURRED)
    since = first.at if first is not None else monitoring_fired_at(incident)
    until = now
    if incident.status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
        ended = incident.last(EventKind.RESOLVED) or incident.last(EventKind.STATUS_CHANGED)
        until = ended.at if ended is not None else now
    return since, until


def recorded(incident: Incident) -> BlastRadius | None:
    """The count kept when the incident closed; None while it is live (or when it closed without a prompt
    log), when the caller assesses it instead."""
    return incident.blast_radius if incident.status is IncidentStatus.CLOSED else None


def assess(
    incidents: IncidentStore, log: PromptLogStore, evidence: SignalEvidence, incident_id: str, now: float
) -> BlastRadius:
    """Record the first occurrence (once), count the affected users and sessions, and hold their turns.

    `evidence` is built from the catalogue the caller loaded, so the incident's signals are read as it defines them.
    """
    incident = incidents.get(incident_id)
    if incident is None:
        raise KeyError(incident_id)
    if (
        incident.first(EventKind.FIRST_OCCURRED) is None
        and (entry := first_occurrence(log, evidence, incident)) is not None
    ):
        incidents.add_event(
            incident_id,
            EventKind.FIRST_OCCURRED,
            entry.timestamp,
            {"log_id": entry.log_id},
            key=f"{EventKind.FIRST_OCCURRED.value}|{incident_id}",
        )
        incident = incidents.get(incident_id) or incident
    since, until = window(incident, now)
    entries = evidence.matching_entries(log, incident.signals, since, until)
    if entries:
        log.flag_incident(incident_id, log_ids=[e.log_id for e in entries])
    return BlastRadius(
        since,
        until,
        users=len({e.user_pseudonym for e in entries if e.user_pseudonym is not None}),
        sessions=len({e.session_id for e in entries if e.session_id is not None}),
        entries=len(entries),
        signals_without_evidence=tuple(s for s in incident.signals if s not in evidence),
    )
