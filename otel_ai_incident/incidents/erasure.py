"""A user's erasure (GDPR Art. 17) across every store that holds their pseudonym, in one step.

The prompt log holds the user's turns; the containment state can hold their pseudonym as a rate-limit target
and in its audit; the incident store in the timelines of the incidents that limited them. An erasure that
cleared only the log would leave the pseudonym, which the key links back to the user, in the others. Each
store erases in its own transaction, the prompt log first (the personal data itself); the result says what
each removed, and which stores were not there to erase from.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from otel_ai_incident.containment.state import ContainmentState, ErasureReport
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.promptlog.store import PromptLogStore

ACTOR = "logs erase"


@dataclass(frozen=True)
class ErasureResult:
    prompt_log_entries: int
    containment: ErasureReport | None  # None: no containment state to erase from
    incident_events: int | None  # None: no incident store

    def describe(self) -> str:
        parts = [f"erased {self.prompt_log_entries} prompt-log entries"]
        if self.containment is None:
            parts.append("no containment state")
        else:
            found = self.containment
            parts.append(
                f"containment state: {found.rate_limits} rate limits lifted, {found.pending} pending actions "
                f"deleted, {found.audit_records} audit records and {found.keys} keys rewritten"
            )
        parts.append(
            "no incident store"
            if self.incident_events is None
            else f"incidents: {self.incident_events} timeline events"
        )
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt_log_entries": self.prompt_log_entries,
            "containment": None if self.containment is None else self.containment.to_json(),
            "incident_events": self.incident_events,
        }


def erase_user(
    pseudonyms: Collection[str],
    *,
    key_ids: Sequence[str],
    reason: str,
    now: float,
    prompt_log: PromptLogStore,
    containment: ContainmentState | None,
    incidents: IncidentStore | None,
) -> ErasureResult:
    """Erase these pseudonyms (one user's, under every live key) from every store given."""
    entries = prompt_log.erase(pseudonyms, key_ids=key_ids, reason=reason, now=now)
    report = None if containment is None else containment.erase(pseudonyms, actor=ACTOR, reason=reason)
    events = None if incidents is None else incidents.forget_pseudonyms(pseudonyms)
    return ErasureResult(entries, report, events)
