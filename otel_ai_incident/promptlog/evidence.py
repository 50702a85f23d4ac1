"""How a monitoring signal shows in the prompt log: which logged turns count as evidence of it.

Metrics say that something happened; only the prompt log says to whom. Each built-in signal's metric is
translated into a test on a logged turn (an output block, a PII detection, a tool call scoring at or above
the anomaly boundary, a refusal), so containment targets the users behind what the alert counted, and an
incident's blast radius counts the same turns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from otel_ai_incident import names
from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.promptlog.store import GuardrailMatch, LogQuery, PromptLogStore
from otel_ai_incident.signals import BUILTIN_SIGNALS, Matcher, MonitoringSignal, Selector

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
        lambda entry: any(all((d.get(m.label) == m.value) != m.negated for m in matchers)
                          for d in entry.guardrail_decisions),
    )


def _tool_score_evidence(boundary: float) -> Evidence:
    return Evidence(None, lambda entry: any((c.get("anomaly_score") or 0.0) >= boundary for c in entry.tool_calls))


def _evidence_of(selector: Selector) -> Evidence | None:
    spec, matchers = selector.spec, selector.matchers
    if spec is names.GUARDRAIL_DECISIONS:
        return _guardrail_evidence(tuple(m for m in matchers if m.label in _GUARDRAIL_FIELDS))
    if spec is names.PII_DETECTIONS:  # counted per entity, logged as the pii guardrail's decision
        return _guardrail_evidence((Matcher(names.GUARDRAIL, names.GUARDRAIL_PII),
                                    *(m for m in matchers if m.label == names.STAGE),
                                    Matcher(names.DECISION, names.Decision.ALLOW.value, negated=True)))
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


def detection_lookback(signal: MonitoringSignal) -> float:
    """Prometheus reports an alert from when it fired, `for` after its condition held over the window."""
    detection = signal.spike or signal.any_increase
    assert detection is not None
    return float(detection.window.seconds + detection.for_.seconds)


CATALOGUE: Mapping[str, MonitoringSignal] = {s.name: s for s in BUILTIN_SIGNALS}
EVIDENCE: Mapping[str, Evidence] = {
    name: evidence for name, s in CATALOGUE.items() if (evidence := _evidence_of(_selector(s))) is not None
}


def matching_entries(log: PromptLogStore, signals: Iterable[str], since: float, until: float) -> list[PromptLogEntry]:
    """Turns in the window showing any of the signals, oldest first, each once."""
    found: dict[str, PromptLogEntry] = {}
    for signal in signals:
        evidence = EVIDENCE.get(signal)
        if evidence is None:
            continue
        for stored in log.query(LogQuery(since=since, until=until, guardrail=evidence.prefilter)):
            if stored.entry.log_id not in found and evidence.test(stored.entry):
                found[stored.entry.log_id] = stored.entry
    return sorted(found.values(), key=lambda e: (e.timestamp, e.log_id))
