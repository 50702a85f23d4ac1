"""An incident: what the receiver opens per Alertmanager group and what responders work through.

Kept to plain data so RCA, replay and post-mortems can build on it without the receiver's machinery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from otel_ai_incident.names import Decision


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


# The timeline points an AI post-mortem needs (design text), in order, with how reports name them.
MILESTONES: Mapping[str, str] = {
    "first_occurred": "first occurred in production",
    "monitoring_fired": "monitoring fired",
    "detected": "detected (notified)",
    "contained": "containment took effect",
    "resolved": "resolved",
    "closed": "closed",
}


class EventKind(StrEnum):
    MONITORING_FIRED = "monitoring_fired"  # at the alert's startsAt
    NOTIFIED = "notified"  # when the receiver got the notification
    CONTAINMENT_APPLIED = "containment_applied"
    CONTAINMENT_PENDING = "containment_pending"
    CONTAINMENT_DRY_RUN = "containment_dry_run"
    CONTAINMENT_NO_TARGET = "containment_no_target"
    CONTAINMENT_FAILED = "containment_failed"  # an action failed and is being retried (the first failure)
    NO_PLAYBOOK = "no_playbook"
    RESOLVED = "resolved"  # at the alert's endsAt
    STATUS_CHANGED = "status_changed"
    FIRST_OCCURRED = "first_occurred"  # at the earliest prompt-log entry showing the signal, before it fired
    RCA_RECORDED = "rca_recorded"
    REPLAYED = "replayed"
    CONTAINMENT_LIFTED = "containment_lifted"  # a human ended an action in force (the console records who, why)
    TURN_OPENED = "turn_opened"  # an operator read a held turn's text in the console: who and which turn
    NOTIFICATION_DELIVERED = "notification_delivered"  # an update reached every target that wanted it
    NOTIFICATION_FAILED = "notification_failed"  # an update given up on for some target, after N attempts


class RootCauseCategory(StrEnum):
    """The design text's classification: the fix differs by category, so the post-mortem states it."""

    MODEL_FAILURE = "model_failure"  # the model behaved unexpectedly
    PROMPT_FAILURE = "prompt_failure"  # system prompt insufficient or misconfigured
    DATA_FAILURE = "data_failure"  # retrieved or tool data caused the problem
    CONFIGURATION_FAILURE = "configuration"  # guardrail or tool config misconfigured
    INFRASTRUCTURE_FAILURE = "infrastructure"  # logging gap, auth failure, etc.


@dataclass(frozen=True)
class IncidentRCA:
    """The root cause a human recorded; an incident cannot close without one."""

    incident_id: str
    incident_type: str
    root_cause_category: RootCauseCategory
    root_cause_description: str
    contributing_factors: tuple[str, ...] = ()
    remediation_steps: tuple[str, ...] = ()
    regression_test_added: bool = False
    recurrence_prevention: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["contributing_factors"] = list(self.contributing_factors)
        data["remediation_steps"] = list(self.remediation_steps)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IncidentRCA:
        return cls(
            **{
                **data,
                "root_cause_category": RootCauseCategory(data["root_cause_category"]),
                "contributing_factors": tuple(data["contributing_factors"]),
                "remediation_steps": tuple(data["remediation_steps"]),
            }
        )


@dataclass(frozen=True)
class ReplayRun:
    """One replay of a logged turn under one system prompt, with the PII guardrail re-run on the answer.

    Only the redacted answer is kept: the incident file lives outside the prompt log's retention and erasure,
    so it must not become a second copy of the personal data that leaked.
    """

    system_prompt_hash: str
    redacted_output: str
    pii_decision: str
    pii_entities: tuple[str, ...] = ()

    @property
    def pii_fired(self) -> bool:
        return self.pii_decision != Decision.ALLOW


@dataclass(frozen=True)
class Replay:
    """A logged turn replayed with the system prompt of the time (`old`) and the current one (`new`)."""

    log_id: str
    at: float
    model: str
    logged_pii_decision: str | None  # None: the PII guardrail did not run on the logged turn
    old: ReplayRun
    new: ReplayRun

    @property
    def reproduced(self) -> bool | None:
        """Did the old prompt give the logged guardrail outcome again? None when there is nothing to compare."""
        if self.logged_pii_decision is None:
            return None
        return self.old.pii_fired == (self.logged_pii_decision != Decision.ALLOW)

    @property
    def prompts_differ(self) -> bool:
        return self.old.pii_decision != self.new.pii_decision or self.old.redacted_output != self.new.redacted_output

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["reproduced"] = self.reproduced
        for run in ("old", "new"):
            data[run]["pii_entities"] = list(data[run]["pii_entities"])
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Replay:
        runs = {
            run: ReplayRun(**{**data[run], "pii_entities": tuple(data[run]["pii_entities"])}) for run in ("old", "new")
        }
        return cls(data["log_id"], data["at"], data["model"], data["logged_pii_decision"], **runs)


@dataclass(frozen=True)
class BlastRadius:
    """Who an incident reached (`blast_radius.assess` counts it from the prompt log), over [since, until]."""

    since: float
    until: float
    users: int
    sessions: int
    entries: int
    #: The incident's signals the prompt log holds no evidence of (user reports are not tied to turns).
    signals_without_evidence: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["signals_without_evidence"] = list(self.signals_without_evidence)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BlastRadius:
        return cls(**{**data, "signals_without_evidence": tuple(data["signals_without_evidence"])})


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
    rca: IncidentRCA | None = None
    replays: tuple[Replay, ...] = ()
    #: Counted when the incident closed, and kept: retention deletes the turns once it no longer holds them.
    blast_radius: BlastRadius | None = None

    def first(self, kind: EventKind) -> TimelineEvent | None:
        return next((e for e in self.timeline if e.kind is kind), None)

    def last(self, kind: EventKind) -> TimelineEvent | None:
        return next((e for e in reversed(self.timeline) if e.kind is kind), None)

    def milestones(self) -> dict[str, float | None]:
        """The design text's AI-specific points of the timeline, by MILESTONES key (None: not reached or unknown)."""
        closed = next(
            (
                e
                for e in self.timeline
                if e.kind is EventKind.STATUS_CHANGED and e.detail.get("to") == IncidentStatus.CLOSED
            ),
            None,
        )
        events = {
            "first_occurred": self.first(EventKind.FIRST_OCCURRED),
            "monitoring_fired": self.first(EventKind.MONITORING_FIRED),
            "detected": self.first(EventKind.NOTIFIED),
            "contained": self.first(EventKind.CONTAINMENT_APPLIED),
            "resolved": self.last(EventKind.RESOLVED),
            "closed": closed,
        }
        return {key: None if event is None else event.at for key, event in events.items()}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["signals"] = list(self.signals)
        data["timeline"] = [{"kind": e.kind.value, "at": e.at, "detail": dict(e.detail)} for e in self.timeline]
        data["rca"] = self.rca.to_json() if self.rca is not None else None
        data["replays"] = [r.to_json() for r in self.replays]
        data["blast_radius"] = self.blast_radius.to_json() if self.blast_radius is not None else None
        return data
