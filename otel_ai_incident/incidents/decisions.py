"""What a human decides about containment during an incident: approving a pending action, lifting one in force.

The containment state is what the gates enforce; the incident's timeline is what responders, the post-mortem
and the team's updates read. The console, the CLI and the HTTP API all go through these two functions, so an
approval or a lift made anywhere is on both, and the incident store's outbox pushes it to the team.
"""

from __future__ import annotations

from otel_ai_incident.containment.state import ContainmentState
from otel_ai_incident.containment.state.interface import ContainmentEntry
from otel_ai_incident.incidents.model import EventKind, IncidentStatus
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.names import ContainmentActionName as Action


def approve(
    state: ContainmentState, incidents: IncidentStore | None, pending_id: int, *, actor: str, at: float
) -> ContainmentEntry:
    """Apply the pending action `pending_id` (KeyError when it is not pending, e.g. approved meanwhile) and,
    with `incidents`, put it on its incident's timeline (keyed: a retried approval records one event) and mark
    the incident contained."""
    entry = state.approve(pending_id, actor=actor)
    if incidents is not None and entry.incident_id is not None:
        incidents.add_event(
            entry.incident_id,
            EventKind.CONTAINMENT_APPLIED,
            entry.applied_at,
            {"action": entry.action.value, "target": entry.target, "approved_by": actor},
            key=f"approved|{pending_id}",
        )
        incidents.transition(entry.incident_id, IncidentStatus.CONTAINED, at, actor)
    return entry


def lift(
    state: ContainmentState,
    incidents: IncidentStore | None,
    action: Action,
    target: str | None,
    *,
    actor: str,
    reason: str,
    at: float,
    incident_id: str | None = None,
) -> bool:
    """End `action` on `target` (None: the whole app); False when it is not in force, or with `incident_id`
    when it is not in force for that incident. With `incidents`, every incident that had it in force gets a
    `containment_lifted` event saying who lifted it and why."""
    entries = [e for e in state.read(at).entries if e.action is action and e.target == target]
    if incident_id is not None and not any(e.incident_id == incident_id for e in entries):
        return False
    if not state.lift(action, target, actor=actor, reason=reason):
        return False
    if incidents is not None:
        for owner in sorted({e.incident_id for e in entries if e.incident_id is not None}):
            incidents.add_event(
                owner,
                EventKind.CONTAINMENT_LIFTED,
                at,
                {"action": action.value, "target": target, "by": actor, "reason": reason},
            )
    return True
