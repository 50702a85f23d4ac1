"""How the signals of a loaded catalogue show in the prompt log: which logged turns count as evidence.

Metrics say that something happened; only the prompt log says to whom. Each signal's counted series is
translated into a test on a logged turn (a guardrail decision matching its labels, a PII detection, a tool
call scoring at or above a boundary, a refusal), so containment targets the users behind what the alert
counted, and an incident's blast radius counts the same turns.

`SignalEvidence` is built from the catalogue the process loaded (built-ins plus a signals file) and handed
to whatever needs it (the receiver's target finder, blast-radius assessment), so a signal added or changed
in YAML is found in the log like a built-in. It lives in `promptlog`, the lowest layer that sees both the
signal model and logged turns, because containment (below incidents) reads it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from otel_ai_incident import names
from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.promptlog.store import GuardrailMatch, LogQuery, PromptLogStore
from otel_ai_incident.signals import Matcher, MonitoringSignal, Selector

_GUARDRAIL_FIELDS = (names.GUARDRAIL, names.STAGE, names.DECISION)


@dataclass(frozen=True)
class Evidence:
    """How one signal shows in the prompt log: a filter the store runs, then the exact test on each turn."""

    prefilter: GuardrailMatch | None
    test: Callable[[PromptLogEntry], bool]


def _guardrail_evidence(matchers: tuple[Matcher, ...]) -> Evidence:
    """Turns with one guardrail decision satisfying every matcher (the labels are the decision's fields)."""
    equal = {m.label: m.value for m in matchers if not m.negated}
    return Evidence(
        GuardrailMatch(**equal) if equal else None,
        lambda entry: any(
            all((d.get(m.label) == m.value) != m.negated for m in matchers) for d in entry.guardrail_decisions
        ),
    )


def _tool_score_evidence(boundary: float) -> Evidence:
    return Evidence(None, lambda entry: any((c.get("anomaly_score") or 0.0) >= boundary for c in entry.tool_calls))


def _evidence_of(selector: Selector) -> Evidence | None:
    spec, matchers = selector.spec, selector.matchers
    if spec is names.GUARDRAIL_DECISIONS:
        return _guardrail_evidence(tuple(m for m in matchers if m.label in _GUARDRAIL_FIELDS))
    if spec is names.PII_DETECTIONS:  # counted per entity, logged as the pii guardrail's decision
        return _guardrail_evidence(
            (
                Matcher(names.GUARDRAIL, names.GUARDRAIL_PII),
                *(m for m in matchers if m.label == names.STAGE),
                Matcher(names.DECISION, names.Decision.ALLOW.value, negated=True),
            )
        )
    if spec is names.TOOL_ANOMALY_SCORE and selector.above is not None:
        return _tool_score_evidence(selector.above)
    if spec is names.REFUSALS:
        return Evidence(None, lambda entry: entry.refused)
    return None


def _selector(signal: MonitoringSignal) -> Selector:
    if signal.spike is not None:
        return signal.spike.numerator
    assert signal.any_increase is not None
    return signal.any_increase.selector


def _detection_lookback(signal: MonitoringSignal) -> float:
    """Prometheus reports an alert from when it fired, `for` after its condition held over the window."""
    detection = signal.spike or signal.any_increase
    assert detection is not None
    return float(detection.window.seconds + detection.for_.seconds)


class SignalEvidence:
    """The evidence of every signal of one catalogue, by signal name; signals the log cannot show have none."""

    def __init__(self, signals: Iterable[MonitoringSignal]) -> None:
        self._signals: Mapping[str, MonitoringSignal] = {s.name: s for s in signals}
        self._evidence: Mapping[str, Evidence] = {
            name: evidence
            for name, signal in self._signals.items()
            if (evidence := _evidence_of(_selector(signal))) is not None
        }

    def __contains__(self, signal: object) -> bool:
        """Whether the prompt log can show this signal."""
        return signal in self._evidence

    def lookback(self, signals: Iterable[str], default: float) -> float:
        """How long before an alert fired its first evidence may lie: the longest detection among the signals
        the catalogue knows, else `default`."""
        return max((_detection_lookback(self._signals[s]) for s in signals if s in self._signals), default=default)

    def matching_entries(
        self, log: PromptLogStore, signals: Iterable[str], since: float, until: float
    ) -> list[PromptLogEntry]:
        """Turns in the window showing any of the signals, oldest first, each once."""
        found: dict[str, PromptLogEntry] = {}
        for signal in signals:
            evidence = self._evidence.get(signal)
            if evidence is None:
                continue
            for stored in log.query(LogQuery(since=since, until=until, guardrail=evidence.prefilter)):
                if stored.entry.log_id not in found and evidence.test(stored.entry):
                    found[stored.entry.log_id] = stored.entry
        return sorted(found.values(), key=lambda e: (e.timestamp, e.log_id))
