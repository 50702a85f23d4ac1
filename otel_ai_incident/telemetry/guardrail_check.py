"""One guardrail check inside a turn, timed as it runs: a `run_guardrail {name}` span from before the check to after.

Its decision is counted in `ai.guardrail.decisions` and kept in the turn's prompt-log entry. Span names and
attributes follow the selected generations' guardrail vocabulary (`names.GuardrailVocabulary`, experimental).
"""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from otel_ai_incident import names
from otel_ai_incident.telemetry.attributes import DECISIONS, STAGES
from otel_ai_incident.telemetry.runtime import Runtime
from otel_ai_incident.telemetry.scope import Scope

# What the turn keeps of a decision for its prompt-log entry: (guardrail, stage, decision, score).
DecisionLog = Callable[[str, str, str, float | None], None]


class GuardrailCheck(Scope):
    """One guardrail check timed as it runs: its span starts on entry and ends on exit.

    `decide()` gives the outcome (counted in `ai.guardrail.decisions`, set on the span, kept in the prompt
    log); a check that raises ends its span with the error type and counts no decision. Spans and
    attributes follow the selected generation's guardrail vocabulary (`names.GuardrailVocabulary`).
    """

    __slots__ = ("_decision", "_log", "_name", "_parent", "_rt", "_score", "_span", "_stage", "_token")

    def __init__(
        self, runtime: Runtime, parent: otel_context.Context | None, name: str, stage: str, log: DecisionLog
    ) -> None:
        self._parent = parent
        self._log = log
        self._rt = runtime
        self._name = name
        self._stage = stage
        self._decision: str | None = None
        self._score: float | None = None
        self._span: trace.Span = trace.INVALID_SPAN
        self._token: object | None = None

    def _open(self, attach: bool) -> GuardrailCheck:
        rt = self._rt
        try:
            stage = STAGES[self._stage]
            rt.instruments.see_guardrail(self._name, stage)  # its alert series exist before its first decision
            vocabularies = names.guardrail_vocabularies(rt.generations)
            vocabulary = vocabularies[-1]  # the current one names the span
            attributes = {names.GEN_AI_OPERATION_NAME: vocabulary.operation}
            for each in vocabularies:
                attributes[each.component] = self._name
            self._stage = stage
            span = rt.tracer.start_span(
                f"{vocabulary.operation} {self._name}", context=self._parent, attributes=attributes
            )
            self._span = span
            if attach:
                self._token = otel_context.attach(trace.set_span_in_context(span, self._parent))
        except Exception:
            rt.record_error("guardrail")
        return self

    def decide(self, decision: str, *, score: float | None = None) -> None:
        """The check's outcome: allow, block, redact or flag, with the guardrail's score if it has one."""
        self._decision = decision
        self._score = score

    def _finish(self, exc: BaseException | None) -> None:
        rt = self._rt
        try:
            span = self._span
            if self._decision is not None:
                decision = DECISIONS[self._decision]
                cached = rt.attributes.guardrail(self._name, self._stage, decision)
                rt.instruments.guardrail_decisions.add(1, cached.metric)
                attributes = cached.span
                if self._score is not None:
                    attributes = {**attributes, **dict.fromkeys(cached.score_keys, float(self._score))}
                span.set_attributes(attributes)
                self._log(self._name, self._stage, decision, self._score)
            if exc is not None:
                span.set_attribute(names.ERROR_TYPE, type(exc).__qualname__)
                span.set_status(Status(StatusCode.ERROR))
            span.end()
        except Exception:
            rt.record_error("guardrail")
        finally:
            if self._token is not None:
                otel_context.detach(self._token)
                self._token = None
