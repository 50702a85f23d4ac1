"""Recording the root cause and closing: the last two steps an on-call takes on an incident.

Closing ends the legal hold on the incident's prompt-log turns, so retention may delete them again; the
hold is released only after the close committed, so a failed close never leaves evidence unprotected. The
blast radius is counted just before and kept on the closed incident, so reports read after retention
deleted the turns still give the numbers of the close.
"""

from __future__ import annotations

from collections.abc import Sequence

from otel_ai_incident.incidents import blast_radius
from otel_ai_incident.incidents.model import IncidentRCA, IncidentStatus, RootCauseCategory
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.promptlog.evidence import SignalEvidence
from otel_ai_incident.promptlog.store import PromptLogStore


class Refused(Exception):
    """The incident is missing or not in a state for this step; the message says what to do."""


def record_rca(
    incidents: IncidentStore,
    incident_id: str,
    *,
    category: RootCauseCategory,
    description: str,
    factors: Sequence[str] = (),
    remediation: Sequence[str] = (),
    regression_test_added: bool = False,
    recurrence_prevention: str = "",
    at: float,
) -> IncidentRCA:
    incident = incidents.get(incident_id)
    if incident is None:
        raise Refused(f"no incident {incident_id}")
    rca = IncidentRCA(
        incident_id,
        incident.incident_type,
        category,
        description,
        tuple(factors),
        tuple(remediation),
        regression_test_added,
        recurrence_prevention,
    )
    if not incidents.record_rca(rca, at):
        raise Refused(f"{incident_id} is closed: its root cause is final")
    return rca


def close(
    incidents: IncidentStore,
    log: PromptLogStore | None,
    evidence: SignalEvidence | None,
    incident_id: str,
    *,
    by: str,
    at: float,
) -> int:
    """Close the incident, keeping its blast radius (counted from `log` with `evidence`; none without them),
    and release its hold on the prompt log; how many turns were released."""
    incident = incidents.get(incident_id)
    if incident is None:
        raise Refused(f"no incident {incident_id}")
    if incident.status is IncidentStatus.CLOSED:
        raise Refused(f"{incident_id} is already closed")
    if incident.rca is None:
        raise Refused(
            f"{incident_id} has no root cause: record it first with "
            f"`otel-ai-incident incidents rca {incident_id} --category ... --description ...`"
        )
    radius = None
    if log is not None and evidence is not None:
        radius = blast_radius.assess(incidents, log, evidence, incident_id, at)
    if not incidents.transition(incident_id, IncidentStatus.CLOSED, at, by, blast_radius=radius):
        raise Refused(f"{incident_id} cannot close from {incident.status.value}")
    return log.release_hold(incident_id) if log is not None else 0
