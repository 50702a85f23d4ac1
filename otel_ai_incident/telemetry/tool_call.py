"""One tool execution inside a turn: an `execute_tool {name}` span, its outcome, its argument anomaly score.

The gate runs first (a disabled tool or read-only mode raises ContainmentActive before the tool runs); a
flagged anomaly score is a `tool_anomaly` guardrail decision of the turn, its span covering the scoring.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_ai_incident import names
from otel_ai_incident.errors import ContainmentActive
from otel_ai_incident.telemetry.attributes import ToolAttributes
from otel_ai_incident.telemetry.runtime import Runtime
from otel_ai_incident.telemetry.scope import Scope


class ToolTurn(Protocol):
    """What a tool call reports back to its turn (the turn's internals, named here so neither module imports
    the other)."""

    def _guardrail(self, name: str, stage: str, decision: str, score: float | None, started_ns: int | None) -> None:
        """Count a guardrail decision on the turn, its span starting at `started_ns`."""

    def _tool_blocked(self, tool: str, action: str) -> None:
        """Mark on the turn's span that containment refused the tool."""

    def _tool_called(self, call: ToolCall, outcome: str, error_type: str | None) -> None:
        """Add the finished (or refused) tool call to the turn's prompt-log entry."""


class ToolCall(Scope):
    """One tool execution inside a turn: an `execute_tool {name}` span, its outcome, its anomaly score.

    Made by `Turn.tool_call`, which hands it the runtime and the turn's context; it reports back to the turn
    through `guardrail`, `_tool_blocked` and `_tool_called` only, never touching the turn's state.
    """

    __slots__ = (
        "_anomaly_score",
        "_attrs",
        "_parent",
        "_rt",
        "_span",
        "_start",
        "_token",
        "_turn",
        "arguments",
        "call_id",
        "name",
        "writes",
    )

    def __init__(
        self,
        turn: ToolTurn,
        runtime: Runtime,
        parent: otel_context.Context | None,
        name: str,
        arguments: Mapping[str, Any] | None,
        *,
        writes: bool,
        call_id: str | None,
        anomaly_score: float | None,
    ) -> None:
        self._turn = turn
        self._rt = runtime
        self._parent = parent
        self._attrs: ToolAttributes | None = None
        self.name = name
        self.arguments = arguments
        self.writes = writes
        self.call_id = call_id
        self._anomaly_score = anomaly_score
        self._span: trace.Span = trace.INVALID_SPAN
        self._token: object | None = None
        self._start = 0.0

    @property
    def anomaly_score(self) -> float | None:
        return self._anomaly_score

    def _open(self, attach: bool) -> ToolCall:
        rt = self._rt
        blocked = None
        try:
            self._attrs = rt.attributes.tool(self.name)
            blocked = rt.gate.tool_blocked(self.name, self.writes)
        except Exception:
            rt.record_error("tool_call")
        if blocked is not None:
            self._refuse(*blocked)
        try:
            self._score()
            self._start_span()
            if attach:
                self._token = otel_context.attach(trace.set_span_in_context(self._span, self._parent))
        except Exception:
            rt.record_error("tool_call")
        return self

    def _score(self) -> None:
        rt = self._rt
        score = self._anomaly_score
        started = time.time_ns()  # a flagged call's guardrail span covers the scoring
        if score is None and rt.tool_scorer is not None and self.arguments is not None:
            score = self._anomaly_score = rt.tool_scorer.observe(self.name, self.arguments)
        if score is None:
            return
        rt.instruments.tool_anomaly_score.record(score, self._attrs.tool)
        if score >= rt.threshold(names.GUARDRAIL_TOOL_ANOMALY, rt.anomaly_threshold):
            self._turn._guardrail(
                names.GUARDRAIL_TOOL_ANOMALY, names.Stage.TOOL.value, names.Decision.FLAG.value, score, started
            )

    def _start_span(self) -> None:
        rt = self._rt
        attributes: dict[str, Any] = {
            names.GEN_AI_OPERATION_NAME: names.OPERATION_EXECUTE_TOOL,
            names.GEN_AI_TOOL_NAME: self.name,
            names.AI_TOOL_WRITES: self.writes,
        }
        if self.call_id is not None:
            attributes[names.GEN_AI_TOOL_CALL_ID] = self.call_id
        if self._anomaly_score is not None:
            attributes[names.AI_TOOL_ANOMALY_SCORE] = float(self._anomaly_score)
        if rt.capture_content and self.arguments is not None:
            attributes[names.GEN_AI_TOOL_CALL_ARGUMENTS] = json.dumps(self.arguments, default=str)
        self._start = time.perf_counter()
        span = rt.tracer.start_span(
            self._attrs.span_name, context=self._parent, kind=SpanKind.INTERNAL, attributes=attributes
        )
        self._span = span

    def _refuse(self, action: str, target: str | None) -> None:
        rt = self._rt
        try:
            rt.instruments.containment_enforced.add(1, {names.ACTION: action})
            rt.instruments.tool_calls.add(1, self._attrs.calls[names.ToolOutcome.BLOCKED.value])
            turn = self._turn
            turn._tool_blocked(self.name, action)
            turn._tool_called(self, names.ToolOutcome.BLOCKED.value, None)
        except Exception:
            rt.record_error("tool_call")
        raise ContainmentActive(action, target)

    def _finish(self, exc: BaseException | None) -> None:
        rt = self._rt
        try:
            outcome = names.ToolOutcome.OK.value if exc is None else names.ToolOutcome.ERROR.value
            rt.instruments.tool_calls.add(1, self._attrs.calls[outcome])
            error_type = None if exc is None else type(exc).__qualname__
            if error_type is not None:
                self._span.set_attribute(names.ERROR_TYPE, error_type)
                self._span.set_status(Status(StatusCode.ERROR))
            self._span.end()
            self._turn._tool_called(self, outcome, error_type)
        except Exception:
            rt.record_error("tool_call")
        finally:
            if self._token is not None:
                otel_context.detach(self._token)
                self._token = None
