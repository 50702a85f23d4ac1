"""Where containment finds its targets: metrics carry no user ids, the prompt log does.

The receiver depends on this protocol only; `PromptLogTargetFinder` implements it over the prompt log.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from otel_ai_incident import names
from otel_ai_incident.promptlog.evidence import SignalEvidence
from otel_ai_incident.promptlog.store import OUTPUT_BLOCK, GuardrailMatch, PromptLogStore

# The turns that make a user a containment target: an output a guardrail blocked, or one that leaked PII
# (the PII guardrail's "block" is already an output block, its "redact" is a detection that got through).
FLAGGED_OUTPUTS = (
    OUTPUT_BLOCK,
    GuardrailMatch(guardrail=names.GUARDRAIL_PII, stage=names.Stage.OUTPUT.value, decision=names.Decision.REDACT.value),
)


class TargetFinder(Protocol):
    def top_users(self, since: float, until: float, limit: int, signal: str | None = None) -> list[str]:
        """Pseudonyms of the users most involved, between two Unix times, in the turns that show `signal`
        (or, for a signal the prompt log cannot show, in flagged outputs)."""

    def most_anomalous_tool(self, since: float, until: float) -> str | None:
        """The tool whose calls looked most unusual between two Unix times, if any."""


# A user becomes a target only with this many turns showing the signal in the window, and with at least
# this share of the most involved user's count: the odd refusal or blocked answer an ordinary user gets now
# and then must not rate-limit them along with the few accounts behind a spike.
DEFAULT_MIN_TURNS = 3
SHARE_OF_TOP = 0.1


class PromptLogTargetFinder:
    """A `TargetFinder` reading the prompt log for the turns showing a signal of the loaded catalogue (`evidence`).
    Its `store` and `evidence` are also what the receiver assesses blast radius with."""

    def __init__(self, store: PromptLogStore, evidence: SignalEvidence, *, min_turns: int = DEFAULT_MIN_TURNS) -> None:
        self.store = store
        self.evidence = evidence
        self.min_turns = min_turns

    def top_users(self, since: float, until: float, limit: int, signal: str | None = None) -> list[str]:
        """Ranked by the turns showing the signal (a refusal spike targets who was refused, a jailbreak wave
        who got blocked); without evidence of the signal, by flagged outputs of both kinds together."""
        counts: Counter[str] = Counter()
        if signal is not None and signal in self.evidence:
            entries = self.evidence.matching_entries(self.store, (signal,), since, until)
            counts.update(e.user_pseudonym for e in entries if e.user_pseudonym is not None)
        else:
            for match in FLAGGED_OUTPUTS:
                counts.update(dict(self.store.top_users(since, until, guardrail=match, limit=limit)))
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        if not ranked:
            return []
        floor = max(self.min_turns, ranked[0][1] * SHARE_OF_TOP)
        return [user for user, count in ranked if count >= floor][:limit]

    def most_anomalous_tool(self, since: float, until: float) -> str | None:
        return self.store.most_anomalous_tool(since, until)
