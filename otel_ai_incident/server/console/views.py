"""What the console's pages show, read from the stores: plain data for the templates, no HTML.

The incident page reads the prompt log as `incidents show` does (assessing the blast radius holds the turns
it counts) and renders the post-mortem from the same findings, so one page view assesses once. Held turns are
listed by id, time, pseudonym and guardrail decisions only: their text stays in the prompt log until an
operator opens one turn on purpose (see `routes`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from otel_ai_incident.containment.state import ContainmentEntry, ContainmentState, PendingAction
from otel_ai_incident.incidents import postmortem
from otel_ai_incident.incidents.disclosure import BreachClock, breach_clock, disclosure_lines
from otel_ai_incident.incidents.model import MILESTONES, Incident, IncidentStatus
from otel_ai_incident.incidents.postmortem import LogFindings
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.names import Decision, IncidentType
from otel_ai_incident.promptlog.evidence import SignalEvidence
from otel_ai_incident.promptlog.store import PromptLogStore, StoredEntry

LIST_LIMIT = 200
#: Held turns listed on the page; the post-mortem and the export cover them all.
TURNS_SHOWN = 200


@dataclass(frozen=True)
class IncidentRow:
    incident: Incident
    contained: tuple[ContainmentEntry, ...]
    pending: int
    clock: BreachClock | None


@dataclass(frozen=True)
class Milestone:
    key: str
    label: str
    at: float | None
    since_previous_s: float | None  # from the previous reached milestone


@dataclass(frozen=True)
class IncidentPage:
    incident: Incident
    milestones: tuple[Milestone, ...]
    clock: BreachClock | None
    disclosure: tuple[str, ...]
    in_force: tuple[ContainmentEntry, ...]
    pending: tuple[PendingAction, ...]
    findings: LogFindings | None
    log_problem: str | None  # why there are no findings, when a prompt log exists but could not be read
    turns: tuple[StoredEntry, ...]
    postmortem: str


def incident_rows(
    incidents: IncidentStore, state: ContainmentState, status: IncidentStatus | None, now: float
) -> list[IncidentRow]:
    """The list page: each incident with what is in force and waiting for it, and the GDPR clock of leaks."""
    entries: dict[str | None, list[ContainmentEntry]] = defaultdict(list)
    for entry in state.read(now).entries:
        entries[entry.incident_id].append(entry)
    waiting: dict[str | None, int] = defaultdict(int)
    for pending in state.pending():
        waiting[pending.incident_id] += 1
    rows = []
    for incident in incidents.list(status=status, limit=LIST_LIMIT):
        clock = None
        if incident.incident_type == IncidentType.DATA_LEAKAGE:  # the list comes without timelines
            full = incidents.get(incident.id)
            clock = breach_clock(full, now) if full is not None else None
        rows.append(IncidentRow(incident, tuple(entries[incident.id]), waiting[incident.id], clock))
    return rows


def milestones(incident: Incident) -> tuple[Milestone, ...]:
    reached = incident.milestones()
    result, previous = [], None
    for key, label in MILESTONES.items():
        at = reached[key]
        since = at - previous if at is not None and previous is not None else None
        result.append(Milestone(key, label, at, since))
        previous = at if at is not None else previous
    return tuple(result)


def incident_page(
    incidents: IncidentStore,
    state: ContainmentState,
    log: PromptLogStore | None,
    evidence: SignalEvidence,
    incident_id: str,
    now: float,
) -> IncidentPage | None:
    """Everything the incident page shows; None when there is no such incident."""
    if incidents.get(incident_id) is None:
        return None
    findings, problem = None, None
    if log is not None:
        try:
            findings = postmortem.gather(incidents, log, evidence, incident_id, now)
        except Exception as error:  # the page still shows the incident; it says why the log part is missing
            problem = f"the prompt log could not be read: {error}"
    incident = incidents.get(incident_id)  # with the first occurrence the assessment may have added
    if incident is None:
        return None
    return IncidentPage(
        incident=incident,
        milestones=milestones(incident),
        clock=breach_clock(incident, now),
        disclosure=tuple(disclosure_lines(incident, now)),
        in_force=tuple(e for e in state.read(now).entries if e.incident_id == incident_id),
        pending=tuple(p for p in state.pending() if p.incident_id == incident_id),
        findings=findings,
        log_problem=problem,
        turns=findings.held[:TURNS_SHOWN] if findings is not None else (),
        postmortem=postmortem.render(incident, findings, now),
    )


DECISIONS: tuple[str, ...] = tuple(d.value for d in Decision)


def guardrail_rows(findings: LogFindings) -> Sequence[tuple[str, str, tuple[int, ...], int]]:
    """(guardrail, stage, turns per DECISIONS, turns where it fired) per guardrail run in the incident window."""
    rows = []
    for (guardrail, stage), counts in findings.guardrails.items():
        fired = sum(n for decision, n in counts.items() if decision != Decision.ALLOW)
        rows.append((guardrail, stage, tuple(counts[d] for d in DECISIONS), fired))
    return rows
