"""The contract's instruments on one meter, with the label sets alerts need pre-initialised at zero.

Counters are summed in the process and observed at collection (`counters.summed_counter`); histograms and
the up-down counter are the SDK's synchronous instruments.

A counter series that first appears at 1 is invisible to `increase()`: Prometheus needs a sample before
the event. So every label set an alert divides or compares is created at 0 as soon as its dimensions are
known (at start-up for fixed ones, at the first sight of a model, guardrail or tool for the others).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from opentelemetry import metrics
from opentelemetry.context import Context

from otel_ai_incident import names
from otel_ai_incident.names import InstrumentKind, MetricSpec
from otel_ai_incident.telemetry.counters import summed_counter


def _create(meter: metrics.Meter, spec: MetricSpec) -> Any:
    if spec.kind is InstrumentKind.COUNTER:
        return summed_counter(meter, spec)
    if spec.kind is InstrumentKind.UP_DOWN_COUNTER:
        return meter.create_up_down_counter(spec.name, unit=spec.unit, description=spec.description)
    # Bucket advice travels with the instrument, so it also holds on a meter provider the app built.
    return meter.create_histogram(
        spec.name,
        unit=spec.unit,
        description=spec.description,
        explicit_bucket_boundaries_advisory=list(spec.buckets or ()),
    )


class InferenceMetrics:
    """One convention generation's model-call metrics: the duration, and the tokens as that generation counts
    them (today's: one histogram by gen_ai.token.type; the current ones: a counter per token type)."""

    __slots__ = ("_add_input", "_add_output", "_duration", "_typed")

    def __init__(self, meter: metrics.Meter, generation: names.Generation) -> None:
        self._duration = _create(meter, generation.duration).record
        self._typed = generation.token_type_attribute
        self._add_input = _adder(_create(meter, generation.input_tokens), generation.input_tokens)
        self._add_output = (
            self._add_input  # one histogram for both kinds
            if self._typed
            else _adder(_create(meter, generation.output_tokens), generation.output_tokens)
        )

    def record(
        self,
        duration: float,
        attributes: InferenceLabels,
        error_type: str | None,
        tokens: tuple[int | None, int | None],
        context: Context | None = None,
    ) -> None:
        """Record one model call. `context` holds its span: a histogram's exemplars (when the meter provider's
        filter takes them) point at that span, even when the call never became the current span."""
        base = attributes.base
        self._duration(duration, base if error_type is None else {**base, names.ERROR_TYPE: error_type}, context)
        self.record_tokens(attributes, tokens, context)

    def record_tokens(
        self, attributes: InferenceLabels, tokens: tuple[int | None, int | None], context: Context | None = None
    ) -> None:
        input_tokens, output_tokens = tokens
        if input_tokens is not None:
            self._add_input(input_tokens, attributes.input_tokens if self._typed else attributes.base, context)
        if output_tokens is not None:
            self._add_output(output_tokens, attributes.output_tokens if self._typed else attributes.base, context)


class InferenceLabels(Protocol):
    base: dict[str, Any]
    input_tokens: dict[str, Any]
    output_tokens: dict[str, Any]


def _adder(instrument: Any, spec: MetricSpec) -> Callable[[int, dict[str, Any], Context | None], None]:
    return instrument.record if spec.kind is InstrumentKind.HISTOGRAM else instrument.add


class Instruments:
    """One instrument per contract metric. Thread-safe: the first-sight sets are guarded by a lock."""

    def __init__(
        self,
        meter: metrics.Meter,
        *,
        pii_entity_types: Iterable[str] = (),
        pii_action: str = "redact",
        generations: tuple[names.Generation, ...] = (names.DEFAULT_GENERATION,),
    ):
        self.generations = generations
        self.inference = tuple(InferenceMetrics(meter, generation) for generation in generations)
        self.turns = _create(meter, names.TURNS)
        self.guardrail_decisions = _create(meter, names.GUARDRAIL_DECISIONS)
        self.pii_detections = _create(meter, names.PII_DETECTIONS)
        self.user_reports = _create(meter, names.USER_REPORTS)
        self.refusals = _create(meter, names.REFUSALS)
        self.tool_calls = _create(meter, names.TOOL_CALLS)
        self.tool_anomaly_score = _create(meter, names.TOOL_ANOMALY_SCORE)
        self.containment_active = _create(meter, names.CONTAINMENT_ACTIVE)
        self.containment_enforced = _create(meter, names.CONTAINMENT_ENFORCED)
        self.prompt_log_dropped = _create(meter, names.PROMPT_LOG_DROPPED)
        self.instrumentation_errors = _create(meter, names.INSTRUMENTATION_ERRORS)

        self._lock = threading.Lock()
        self._models: set[str] = set()
        self._guardrails: set[tuple[str, str]] = set()
        self._tools: set[str] = set()
        self._report_kinds: set[str] = set()
        self._init_fixed_series(pii_entity_types, pii_action)

    def _init_fixed_series(self, pii_entity_types: Iterable[str], pii_action: str) -> None:
        for action in names.ContainmentActionName:
            attrs = {names.ACTION: action.value}
            self.containment_enforced.add(0, attrs)
            self.containment_active.add(0, attrs)
        for reason in names.PromptLogDropReason:
            self.prompt_log_dropped.add(0, {names.REASON: reason.value})
        for entity_type in pii_entity_types:
            self.pii_detections.add(
                0, {names.STAGE: names.Stage.OUTPUT.value, names.ENTITY_TYPE: entity_type, names.ACTION: pii_action}
            )
        for kind in names.DEFAULT_REPORT_KINDS:
            self.see_report_kind(kind)
        self.see_guardrail(names.GUARDRAIL_PII, names.Stage.OUTPUT.value)
        self.see_guardrail(names.GUARDRAIL_TOOL_ANOMALY, names.Stage.TOOL.value)

    def see_model(self, model: str) -> None:
        if model not in self._models:
            self._init_once(self._models, model, self._init_model)

    def see_guardrail(self, guardrail: str, stage: str) -> None:
        if (guardrail, stage) not in self._guardrails:
            self._init_once(self._guardrails, (guardrail, stage), self._init_guardrail)

    def see_tool(self, tool: str) -> None:
        if tool not in self._tools:
            self._init_once(self._tools, tool, self._init_tool)

    def see_report_kind(self, kind: str) -> None:
        if kind not in self._report_kinds:
            self._init_once(self._report_kinds, kind, self._init_report_kind)

    def _init_once(self, seen: set[Any], key: Any, init: Callable[[Any], None]) -> None:
        with self._lock:
            if key not in seen:
                init(key)
                seen.add(key)

    def _init_model(self, model: str) -> None:
        for outcome in names.TurnOutcome:
            self.turns.add(0, {names.GEN_AI_REQUEST_MODEL: model, names.OUTCOME: outcome.value})
        self.refusals.add(0, {names.GEN_AI_REQUEST_MODEL: model})

    def _init_guardrail(self, key: tuple[str, str]) -> None:
        guardrail, stage = key
        for decision in names.Decision:
            attributes = {names.GUARDRAIL: guardrail, names.STAGE: stage, names.DECISION: decision.value}
            self.guardrail_decisions.add(0, attributes)

    def _init_tool(self, tool: str) -> None:
        for outcome in names.ToolOutcome:
            self.tool_calls.add(0, {names.GEN_AI_TOOL_NAME: tool, names.OUTCOME: outcome.value})

    def _init_report_kind(self, kind: str) -> None:
        for severity in names.Severity:
            self.user_reports.add(0, {names.KIND: kind, names.SEVERITY: severity.value})
