"""Attribute sets the hooks record on every turn, built once per model, guardrail decision or tool.

The SDK only reads the dicts it is given, so one dict per label set (never mutated after it is built) saves
building it again on every turn. A miss is also the first sight of that model, guardrail or tool: the moment
its alert series are created at zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from otel_ai_incident import names
from otel_ai_incident.telemetry.instruments import Instruments

_CACHE_LIMIT = 1024
_TARGET_TYPES = {s.value: t for s, t in names.STAGE_TO_TARGET_TYPE.items()}
_SECURITY_DECISIONS = {d.value: t for d, t in names.DECISION_TO_SECURITY_DECISION.items()}


@dataclass(frozen=True, slots=True)
class ModelAttributes:
    operation: dict[str, Any]  # gen_ai.client.operation.duration without error.type
    input_tokens: dict[str, Any]
    output_tokens: dict[str, Any]
    turns: dict[str, dict[str, Any]]  # by outcome
    refusals: dict[str, Any]
    span_name: str


@dataclass(frozen=True, slots=True)
class GuardrailAttributes:
    metric: dict[str, Any]
    span: dict[str, Any]  # without the score
    span_name: str


@dataclass(frozen=True, slots=True)
class ToolAttributes:
    tool: dict[str, Any]  # the anomaly-score histogram's
    calls: dict[str, dict[str, Any]]  # ai.tool.calls by outcome
    span_name: str


class AttributeCache:
    """Thread-safe without a lock: a racing miss builds an equal value twice, and dict writes are atomic."""

    __slots__ = ("_guardrails", "_instruments", "_models", "_tools")

    def __init__(self, instruments: Instruments) -> None:
        self._instruments = instruments
        self._models: dict[tuple[str, str], ModelAttributes] = {}
        self._guardrails: dict[tuple[str, str, str], GuardrailAttributes] = {}
        self._tools: dict[str, ToolAttributes] = {}

    def model(self, model: str, provider: str) -> ModelAttributes:
        found = self._models.get((model, provider))
        if found is None:
            self._instruments.see_model(model)
            operation = {
                names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT,
                names.GEN_AI_PROVIDER_NAME: provider,
                names.GEN_AI_REQUEST_MODEL: model,
            }
            found = ModelAttributes(
                operation=operation,
                input_tokens={**operation, names.GEN_AI_TOKEN_TYPE: names.TOKEN_TYPE_INPUT},
                output_tokens={**operation, names.GEN_AI_TOKEN_TYPE: names.TOKEN_TYPE_OUTPUT},
                turns={o.value: {names.GEN_AI_REQUEST_MODEL: model, names.OUTCOME: o.value} for o in names.TurnOutcome},
                refusals={names.GEN_AI_REQUEST_MODEL: model},
                span_name=f"{names.OPERATION_CHAT} {model}",
            )
            _store(self._models, (model, provider), found)
        return found

    def guardrail(self, guardrail: str, stage: str, decision: str) -> GuardrailAttributes:
        """`stage` and `decision` are the plain values (checked by the caller)."""
        found = self._guardrails.get((guardrail, stage, decision))
        if found is None:
            self._instruments.see_guardrail(guardrail, stage)
            found = GuardrailAttributes(
                metric={names.GUARDRAIL: guardrail, names.STAGE: stage, names.DECISION: decision},
                span={
                    names.GEN_AI_OPERATION_NAME: names.OPERATION_APPLY_GUARDRAIL,
                    names.GEN_AI_GUARDIAN_NAME: guardrail,
                    names.GEN_AI_SECURITY_TARGET_TYPE: _TARGET_TYPES[stage],
                    names.GEN_AI_SECURITY_DECISION_TYPE: _SECURITY_DECISIONS[decision],
                },
                span_name=f"{names.OPERATION_APPLY_GUARDRAIL} {guardrail}",
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
