"""Attribute sets the hooks record on every turn, built once per model, guardrail decision or tool.

The SDK only reads the dicts it is given, so one dict per label set (never mutated after it is built) saves
building it again on every turn. A miss is also the first sight of that model, guardrail or tool: the moment
its alert series are created at zero. Names that depend on the convention generation come from the
runtime's generations (`names.Generation`), so dual emission is one more entry in the same dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from otel_ai_incident import names
from otel_ai_incident.telemetry.instruments import Instruments

_CACHE_LIMIT = 1024

# Accept our enums or their plain values, and always hand plain strings to OpenTelemetry.
STAGES = {**{s.value: s.value for s in names.Stage}, **{s: s.value for s in names.Stage}}
DECISIONS = {**{d.value: d.value for d in names.Decision}, **{d: d.value for d in names.Decision}}


@dataclass(frozen=True, slots=True)
class ModelAttributes:
    """What a turn on one model records, and the model call's attributes known before the request."""

    operation: dict[str, Any]  # the model call's metric attributes before its reply
    turns: dict[str, dict[str, Any]]  # by outcome
    refusals: dict[str, Any]
    chat_span_name: str


@dataclass(frozen=True, slots=True)
class InferenceAttributes:
    """The model call's metric attributes once its reply (response model) is known."""

    base: dict[str, Any]  # duration, and the token counters of the current conventions
    input_tokens: dict[str, Any]  # the token histogram of today's conventions (with gen_ai.token.type)
    output_tokens: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GuardrailAttributes:
    metric: dict[str, Any]
    span: dict[str, Any]  # without the score
    span_name: str
    score_keys: tuple[str, ...]  # where the score goes, once per generation


@dataclass(frozen=True, slots=True)
class ToolAttributes:
    tool: dict[str, Any]  # the anomaly-score histogram's
    calls: dict[str, dict[str, Any]]  # ai.tool.calls by outcome
    span_name: str


class AttributeCache:
    """Thread-safe without a lock: a racing miss builds an equal value twice, and dict writes are atomic."""

    __slots__ = ("_guardrails", "_inferences", "_instruments", "_models", "_tools", "_vocabularies")

    def __init__(self, instruments: Instruments) -> None:
        self._instruments = instruments
        self._vocabularies = names.guardrail_vocabularies(instruments.generations)
        self._models: dict[tuple[str, str], ModelAttributes] = {}
        self._inferences: dict[tuple[Any, ...], InferenceAttributes] = {}
        self._guardrails: dict[tuple[str, str, str], GuardrailAttributes] = {}
        self._tools: dict[str, ToolAttributes] = {}

    def model(self, model: str, provider: str) -> ModelAttributes:
        found = self._models.get((model, provider))
        if found is None:
            self._instruments.see_model(model)
            found = ModelAttributes(
                operation={
                    names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT,
                    names.GEN_AI_PROVIDER_NAME: provider,
                    names.GEN_AI_REQUEST_MODEL: model,
                },
                turns={o.value: {names.GEN_AI_REQUEST_MODEL: model, names.OUTCOME: o.value} for o in names.TurnOutcome},
                refusals={names.GEN_AI_REQUEST_MODEL: model},
                chat_span_name=f"{names.OPERATION_CHAT} {model}",
            )
            _store(self._models, (model, provider), found)
        return found

    def inference(
        self, model: ModelAttributes, response_model: str | None, address: str | None, port: int | None
    ) -> InferenceAttributes:
        """The model call's metric attributes with the response model and server (each left out when unknown)."""
        operation = model.operation
        key = (
            operation[names.GEN_AI_REQUEST_MODEL],
            operation[names.GEN_AI_PROVIDER_NAME],
            response_model,
            address,
            port,
        )
        found = self._inferences.get(key)
        if found is None:
            base = dict(model.operation)
            if response_model is not None:
                base[names.GEN_AI_RESPONSE_MODEL] = response_model
            if address is not None:
                base[names.SERVER_ADDRESS] = address
                if port is not None:
                    base[names.SERVER_PORT] = port
            found = InferenceAttributes(
                base=base,
                input_tokens={**base, names.GEN_AI_TOKEN_TYPE: names.TOKEN_TYPE_INPUT},
                output_tokens={**base, names.GEN_AI_TOKEN_TYPE: names.TOKEN_TYPE_OUTPUT},
            )
            _store(self._inferences, key, found)
        return found

    def guardrail(self, guardrail: str, stage: str, decision: str) -> GuardrailAttributes:
        """`stage` and `decision` are the plain values (checked by the caller)."""
        found = self._guardrails.get((guardrail, stage, decision))
        if found is None:
            self._instruments.see_guardrail(guardrail, stage)
            span: dict[str, Any] = {}
            for vocabulary in self._vocabularies:  # the current one last: its operation name wins
                target_type, target_subtype = vocabulary.targets[stage]
                span[names.GEN_AI_OPERATION_NAME] = vocabulary.operation
                span[vocabulary.component] = guardrail
                span[vocabulary.target_type] = target_type
                if vocabulary.target_subtype is not None and target_subtype is not None:
                    span[vocabulary.target_subtype] = target_subtype
                span[vocabulary.verdict] = vocabulary.verdicts[decision]
                if vocabulary.action is not None:
                    span[vocabulary.action] = vocabulary.actions[decision]
            found = GuardrailAttributes(
                metric={names.GUARDRAIL: guardrail, names.STAGE: stage, names.DECISION: decision},
                span=span,
                span_name=f"{span[names.GEN_AI_OPERATION_NAME]} {guardrail}",
                score_keys=tuple(v.score for v in self._vocabularies),
            )
            _store(self._guardrails, (guardrail, stage, decision), found)
        return found

    def tool(self, tool: str) -> ToolAttributes:
        found = self._tools.get(tool)
        if found is None:
            self._instruments.see_tool(tool)
            found = ToolAttributes(
                tool={names.GEN_AI_TOOL_NAME: tool},
                calls={o.value: {names.GEN_AI_TOOL_NAME: tool, names.OUTCOME: o.value} for o in names.ToolOutcome},
                span_name=f"{names.OPERATION_EXECUTE_TOOL} {tool}",
            )
            _store(self._tools, tool, found)
        return found


def _store(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_LIMIT:  # models, guardrails and tools are few: this only guards against misuse
        cache.clear()
    cache[key] = value
