"""The hooks an app calls around each LLM turn: spans, metrics, the gate and the prompt log in one place.

Two promises shape this module. The app's own exceptions pass through unchanged (after being recorded),
and nothing that goes wrong in our code ever reaches the app: it is caught, counted in
`ai.instrumentation.errors` and logged once. The only exception we raise on purpose is ContainmentActive.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from random import getrandbits
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_ai_incident import names
from otel_ai_incident.errors import ContainmentActive
from otel_ai_incident.promptlog.entry import PromptLogEntry, system_prompt_hash
from otel_ai_incident.promptlog.pseudonym import Pseudonymizer
from otel_ai_incident.telemetry.attributes import AttributeCache, ModelAttributes, ToolAttributes
from otel_ai_incident.telemetry.instruments import Instruments
from otel_ai_incident.telemetry.ports import Gate, OpenGate, OutputGuard, PromptLogSink, ToolArgumentScorer

logger = logging.getLogger("otel_ai_incident")

DEFAULT_PROVIDER = "unknown"
DEFAULT_ANOMALY_THRESHOLD = 0.8
AI_REFUSAL = "ai.refusal"

# Accept our enums or their plain values, and always hand plain strings to OpenTelemetry.
_STAGES = {**{s.value: s.value for s in names.Stage}, **{s: s.value for s in names.Stage}}
_DECISIONS = {**{d.value: d.value for d in names.Decision}, **{d: d.value for d in names.Decision}}
_SEVERITIES = {**{s.value: s.value for s in names.Severity}, **{s: s.value for s in names.Severity}}
_PROMPT_HASH_CACHE_LIMIT = 256
_TIGHTENED = {names.ACTION: names.ContainmentActionName.TIGHTEN_GUARDRAIL.value}


def _new_log_id() -> str:
    """Time-sortable and cheap: 48 bits of milliseconds, then 64 random bits, as hex."""
    return f"{time.time_ns() // 1_000_000:012x}{getrandbits(64):016x}"


class Runtime:
    """Everything the hooks need, built once by `instrument()`."""

    def __init__(
        self,
        *,
        tracer: trace.Tracer,
        instruments: Instruments,
        pseudonymizer: Pseudonymizer,
        gate: Gate | None = None,
        prompt_log: PromptLogSink | None = None,
        tool_scorer: ToolArgumentScorer | None = None,
        output_guard: OutputGuard | None = None,
        capture_content: bool = False,
        provider_name: str = DEFAULT_PROVIDER,
        anomaly_threshold: float = DEFAULT_ANOMALY_THRESHOLD,
    ) -> None:
        self.tracer = tracer
        self.instruments = instruments
        self.attributes = AttributeCache(instruments)
        self.pseudonymizer = pseudonymizer
        self.gate: Gate = gate or OpenGate()
        self.prompt_log = prompt_log
        self.tool_scorer = tool_scorer
        self.output_guard = output_guard
        self.capture_content = capture_content
        self.provider_name = provider_name
        self.anomaly_threshold = anomaly_threshold
        self._prompt_hashes: dict[str, str] = {}
        self._logged_errors: set[str] = set()

    def record_error(self, component: str) -> None:
        """Count an error of our own and log it once per component; called from an `except` block."""
        with contextlib.suppress(Exception):  # the last line of defence must not raise either
            self.instruments.instrumentation_errors.add(1, {names.COMPONENT: component})
            if component not in self._logged_errors:
                self._logged_errors.add(component)
                logger.warning(
                    "otel-ai-incident: internal error in %s (further ones only counted)", component, exc_info=True
                )

    def threshold(self, guardrail: str, default: float) -> float:
        """The gate's threshold for a guardrail; a tightened one counts as an enforcement of containment."""
        value = self.gate.guardrail_threshold(guardrail, default)
        if value != default:
            self.instruments.containment_enforced.add(1, _TIGHTENED)
        return value

    def prompt_hash(self, system_prompt: str) -> str:
        cached = self._prompt_hashes.get(system_prompt)
        if cached is None:
            if len(self._prompt_hashes) >= _PROMPT_HASH_CACHE_LIMIT:
                self._prompt_hashes.clear()
            cached = self._prompt_hashes[system_prompt] = system_prompt_hash(system_prompt)
        return cached


def default_runtime() -> Runtime:
    """Hooks used before `instrument()`: the global (proxy) providers, no prompt log, nothing contained, and
    a key for this process only (nothing is stored that a pseudonym would have to be matched against)."""
    return Runtime(
        tracer=trace.get_tracer(names.INSTRUMENTATION_SCOPE),
        instruments=Instruments(metrics.get_meter(names.INSTRUMENTATION_SCOPE)),
        pseudonymizer=Pseudonymizer(secrets.token_bytes(32)),
    )


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = default_runtime()
    return _runtime


def set_runtime(runtime: Runtime | None) -> None:
    global _runtime
    _runtime = runtime


class _Scope(ABC):
    """Exits shared by the hooks' context managers: record how the block ended, never swallow its exception."""

    __slots__ = ()

    @abstractmethod
    def _finish(self, exc: BaseException | None) -> None:
        """Record the outcome (`exc` is None for a normal exit); must never raise."""

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self._finish(exc)
        return False

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self._finish(exc)
        return False


class Turn(_Scope):
    """One LLM turn: a `chat {model}` span, the turn's metrics, and its prompt-log entry.

    Use it as a (sync or async) context manager. Child spans take the turn's span as parent explicitly, so
    calling the methods from other threads or tasks keeps the tree right.
    """

    __slots__ = (
        "_attrs",
        "_ctx",
        "_error_type",
        "_finish_reasons",
        "_guardrails",
        "_input_tokens",
        "_output_tokens",
        "_prompt_hash",
        "_pseudonym",
        "_refused",
        "_response",
        "_response_model",
        "_rt",
        "_span",
        "_start",
        "_token",
        "_tool_calls",
        "log_id",
        "model",
        "prompt_name",
        "prompt_version",
        "provider",
        "session_id",
        "system_prompt",
        "user_id",
        "user_message",
    )

    def __init__(
        self,
        runtime: Runtime,
        *,
        model: str,
        user_id: str | None = None,
        session_id: str | None = None,
        system_prompt: str | None = None,
        user_message: str | None = None,
        provider: str | None = None,
        prompt_name: str | None = None,
        prompt_version: str | None = None,
    ) -> None:
        self._rt = runtime
        self._attrs: ModelAttributes | None = None
        self.model = model
        self.user_id = user_id
        self.session_id = session_id
        self.system_prompt = system_prompt
        self.user_message = user_message
        self.provider = provider or runtime.provider_name
        self.prompt_name = prompt_name
        self.prompt_version = prompt_version
        self.log_id = _new_log_id()
        self._span: trace.Span = trace.INVALID_SPAN
        self._ctx: otel_context.Context | None = None
        self._token: object | None = None
        self._start = 0.0
        self._pseudonym: str | None = None
        self._prompt_hash: str | None = None
        self._guardrails: list[dict[str, Any]] = []
        self._tool_calls: list[dict[str, Any]] = []
        self._refused = False
        self._response: str | None = None
        self._response_model: str | None = None
        self._finish_reasons: tuple[str, ...] | None = None
        self._input_tokens: int | None = None
        self._output_tokens: int | None = None
        self._error_type: str | None = None

    @property
    def user_pseudonym(self) -> str | None:
        return self._pseudonym

    @property
    def span(self) -> trace.Span:
        """The turn's `chat {model}` span once entered (a non-recording one before, or if it could not start)."""
        return self._span

    # -- entering and leaving -------------------------------------------------------------------------

    def __enter__(self) -> Turn:
        rt = self._rt
        blocked = None
        try:
            if self.user_id is not None:
                self._pseudonym = rt.pseudonymizer.pseudonymize(self.user_id)
            self._attrs = rt.attributes.model(self.model, self.provider)
            blocked = rt.gate.turn_blocked(self._pseudonym)
        except Exception:
            rt.record_error("llm_turn")
        try:
            self._start_span()
        except Exception:
            rt.record_error("llm_turn")
        if blocked is not None:
            self._refuse(*blocked)
        return self

    async def __aenter__(self) -> Turn:
        return self.__enter__()

    def _start_span(self) -> None:
        rt = self._rt
        model_attrs = self._attrs
        assert model_attrs is not None  # set by __enter__ before the span starts
        attributes: dict[str, Any] = {**model_attrs.operation, names.AI_PROMPT_LOG_ID: self.log_id}
        if self.session_id is not None:
            attributes[names.GEN_AI_CONVERSATION_ID] = self.session_id
        if self._pseudonym is not None:
            attributes[names.ENDUSER_PSEUDO_ID] = self._pseudonym
        if self.system_prompt is not None:
            self._prompt_hash = rt.prompt_hash(self.system_prompt)
            attributes[names.AI_SYSTEM_PROMPT_HASH] = self._prompt_hash
        if rt.capture_content:
            if self.system_prompt is not None:
                attributes[names.GEN_AI_SYSTEM_INSTRUCTIONS] = _text_parts(self.system_prompt)
            if self.user_message is not None:
                attributes[names.GEN_AI_INPUT_MESSAGES] = _messages("user", self.user_message)
        self._start = time.perf_counter()
        span = rt.tracer.start_span(model_attrs.span_name, kind=SpanKind.CLIENT, attributes=attributes)
        self._span = span
        self._ctx = trace.set_span_in_context(span)
        self._token = otel_context.attach(self._ctx)

    def _refuse(self, action: str, target: str | None) -> None:
        """Close the turn as contained and raise: the app shows its fallback instead of calling the model."""
        rt = self._rt
        try:
            rt.instruments.containment_enforced.add(1, {names.ACTION: action})
            self._span.set_attribute(names.AI_CONTAINMENT_ACTION, action)
        except Exception:
            rt.record_error("llm_turn")
        error = ContainmentActive(action, target)
        self._finish(error)
        raise error

    def _finish(self, exc: BaseException | None) -> None:
        rt = self._rt
        try:
            duration = time.perf_counter() - self._start
            if exc is None:
                outcome = names.TurnOutcome.OK.value
            elif isinstance(exc, ContainmentActive):
                outcome = names.TurnOutcome.CONTAINED.value
            else:
                outcome = names.TurnOutcome.ERROR.value
                self._error_type = type(exc).__qualname__
            instruments, model_attrs = rt.instruments, self._attrs
            instruments.turns.add(1, model_attrs.turns[outcome])
            op_attrs = model_attrs.operation
            if self._error_type is not None:
                op_attrs = {**op_attrs, names.ERROR_TYPE: self._error_type}
            instruments.operation_duration.record(duration, op_attrs)
            self._end_span()
            if rt.prompt_log is not None:
                rt.prompt_log.submit(self._entry(duration, outcome))
        except Exception:
            rt.record_error("llm_turn")
        finally:
            if self._token is not None:
                otel_context.detach(self._token)
                self._token = None

    def _end_span(self) -> None:
        span = self._span
        if self._error_type is not None:
            # The exception's message may hold user text: only its type goes on the span.
            span.set_attribute(names.ERROR_TYPE, self._error_type)
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    def _entry(self, duration: float, outcome: str) -> PromptLogEntry:
        span_context = self._span.get_span_context()
        valid = span_context.is_valid
        return PromptLogEntry(
            log_id=self.log_id,
            timestamp=time.time() - duration,
            user_pseudonym=self._pseudonym,
            pseudonym_key_id=self._rt.pseudonymizer.key_id if self._pseudonym is not None else None,
            session_id=self.session_id,
            model=self.model,
            system_prompt_hash=self._prompt_hash,
            user_message=self.user_message,
            assistant_response=self._response,
            input_tokens=self._input_tokens,
            output_tokens=self._output_tokens,
            guardrail_decisions=self._guardrails,
            tool_calls=self._tool_calls,
            latency_ms=duration * 1000.0,
            outcome=outcome,
            refused=self._refused,
            error_type=self._error_type,
            trace_id=f"{span_context.trace_id:032x}" if valid else None,
            span_id=f"{span_context.span_id:016x}" if valid else None,
            prompt_name=self.prompt_name,
            prompt_version=self.prompt_version,
            system_prompt=self.system_prompt,
        )

    # -- what happens during the turn -----------------------------------------------------------------

    def guardrail(self, name: str, *, stage: str, decision: str, score: float | None = None) -> None:
        """Record one guardrail decision: a counter, an `apply_guardrail {name}` child span, the prompt log."""
        rt = self._rt
        try:
            stage_value = _STAGES[stage]
            decision_value = _DECISIONS[decision]
            cached = rt.attributes.guardrail(name, stage_value, decision_value)
            rt.instruments.guardrail_decisions.add(1, cached.metric)
            attributes = cached.span if score is None else {**cached.span, names.GEN_AI_SECURITY_SCORE: float(score)}
            rt.tracer.start_span(cached.span_name, context=self._ctx, attributes=attributes).end()
            self._guardrails.append(
                {"guardrail": name, "stage": stage_value, "decision": decision_value, "score": score}
            )
        except Exception:
            rt.record_error("guardrail")

    def tool_call(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        writes: bool = False,
        call_id: str | None = None,
        anomaly_score: float | None = None,
    ) -> ToolCall:
        """A context manager around one tool execution; raises ContainmentActive when the gate forbids it."""
        return ToolCall(
            self, self._rt, self._ctx, name, arguments, writes=writes, call_id=call_id, anomaly_score=anomaly_score
        )

    def check_output(self, text: str) -> str:
        """Run the output guard (PII) on the model's reply and return the text to send to the user.

        Findings are counted by entity type in `ai.pii.detections` and recorded as a `pii` guardrail decision;
        the detected values themselves go nowhere. If the guard itself fails, the reply is returned unchanged
        and the failure counted: the app keeps working, and the error shows in `ai.instrumentation.errors`.
        """
        rt = self._rt
        guard = rt.output_guard
        if guard is None:
            return text
        try:
            result = guard.check(text)
            stage = names.Stage.OUTPUT.value
            for entity_type, count in result.entity_counts.items():
                labels = {names.STAGE: stage, names.ENTITY_TYPE: entity_type, names.ACTION: result.action}
                rt.instruments.pii_detections.add(count, labels)
            self.guardrail(names.GUARDRAIL_PII, stage=stage, decision=result.decision)
            return result.text
        except Exception:
            rt.record_error("check_output")
            return text

    def refusal(self) -> None:
        """The model refused this turn (a refusal message, or a content-filter finish)."""
        rt = self._rt
        try:
            if not self._refused:
                self._refused = True
                rt.instruments.refusals.add(1, self._attrs.refusals)
                self._span.set_attribute(AI_REFUSAL, True)
        except Exception:
            rt.record_error("refusal")

    def complete(
        self,
        text: str | None = None,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        response_model: str | None = None,
        finish_reasons: tuple[str, ...] | list[str] | None = None,
    ) -> None:
        """Record the model's answer and its usage (call once, with the text the user will see)."""
        rt = self._rt
        try:
            self._response = text
            self._input_tokens = input_tokens
            self._output_tokens = output_tokens
            model_attrs = self._attrs
            attributes: dict[str, Any] = {}  # set on the span in one call: one lock, one validation pass
            if input_tokens is not None:
                attributes[names.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
                rt.instruments.token_usage.record(input_tokens, model_attrs.input_tokens)
            if output_tokens is not None:
                attributes[names.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
                rt.instruments.token_usage.record(output_tokens, model_attrs.output_tokens)
            if response_model is not None:
                self._response_model = attributes[names.GEN_AI_RESPONSE_MODEL] = response_model
            if finish_reasons is not None:
                self._finish_reasons = attributes[names.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(finish_reasons)
            if rt.capture_content and text is not None:
                attributes[names.GEN_AI_OUTPUT_MESSAGES] = _messages("assistant", text)
            self._span.set_attributes(attributes)
        except Exception:
            rt.record_error("complete")

    # -- what a ToolCall reports back to its turn (internal; the turn hands it the runtime and context) ---

    def _tool_blocked(self, tool: str, action: str) -> None:
        """Mark on the turn's span that containment refused a tool call."""
        self._span.add_event("tool_blocked", {names.GEN_AI_TOOL_NAME: tool, names.AI_CONTAINMENT_ACTION: action})

    def _tool_called(self, call: ToolCall, outcome: str, error_type: str | None) -> None:
        """Add a finished (or refused) tool call to the turn's prompt-log entry."""
        arguments = call.arguments
        self._tool_calls.append(
            {
                "tool": call.name,
                "arguments": dict(arguments) if arguments is not None else None,
                "writes": call.writes,
                "call_id": call.call_id,
                "anomaly_score": call.anomaly_score,
                "outcome": outcome,
                "error_type": error_type,
            }
        )


class ToolCall(_Scope):
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
        turn: Turn,
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

    def __enter__(self) -> ToolCall:
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
        except Exception:
            rt.record_error("tool_call")
        return self

    async def __aenter__(self) -> ToolCall:
        return self.__enter__()

    def _score(self) -> None:
        rt = self._rt
        score = self._anomaly_score
        if score is None and rt.tool_scorer is not None and self.arguments is not None:
            score = self._anomaly_score = rt.tool_scorer.observe(self.name, self.arguments)
        if score is None:
            return
        rt.instruments.tool_anomaly_score.record(score, self._attrs.tool)
        if score >= rt.threshold(names.GUARDRAIL_TOOL_ANOMALY, rt.anomaly_threshold):
            self._turn.guardrail(
                names.GUARDRAIL_TOOL_ANOMALY,
                stage=names.Stage.TOOL.value,
                decision=names.Decision.FLAG.value,
                score=score,
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
        self._token = otel_context.attach(trace.set_span_in_context(span, self._parent))

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


def _text_parts(text: str) -> str:
    return json.dumps([{"type": "text", "content": text}])


def _messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


# -- module-level API -----------------------------------------------------------------------------------


def llm_turn(
    *,
    model: str,
    user_id: str | None = None,
    session_id: str | None = None,
    system_prompt: str | None = None,
    user_message: str | None = None,
    provider: str | None = None,
    prompt_name: str | None = None,
    prompt_version: str | None = None,
) -> Turn:
    """Open one LLM turn; use as `with llm_turn(...) as turn:` (or `async with`).

    `user_id` is pseudonymised before it goes anywhere. Raises ContainmentActive on entry while a kill
    switch or a rate limit on this user is in force.
    """
    return Turn(
        get_runtime(),
        model=model,
        user_id=user_id,
        session_id=session_id,
        system_prompt=system_prompt,
        user_message=user_message,
        provider=provider,
        prompt_name=prompt_name,
        prompt_version=prompt_version,
    )


def report_user_feedback(
    kind: str = names.REPORT_KIND_HARMFUL,
    severity: str = names.Severity.P3.value,
    *,
    session_id: str | None = None,
    log_id: str | None = None,
) -> None:
    """Record a user's report of a bad answer (`kind` like "harmful"; `severity` p1, p2 or p3).

    The counter carries only kind and severity; the session and the prompt-log entry reported go on a
    `report_user_feedback` span so the report can be found from the trace.
    """
    rt = get_runtime()
    try:
        severity_value = _SEVERITIES[severity.lower() if isinstance(severity, str) else severity]
        rt.instruments.see_report_kind(kind)
        rt.instruments.user_reports.add(1, {names.KIND: kind, names.SEVERITY: severity_value})
        attributes = {names.KIND: kind, names.SEVERITY: severity_value}
        if session_id is not None:
            attributes[names.GEN_AI_CONVERSATION_ID] = session_id
        if log_id is not None:
            attributes[names.AI_PROMPT_LOG_ID] = log_id
        rt.tracer.start_span("report_user_feedback", attributes=attributes).end()
    except Exception:
        rt.record_error("report_user_feedback")


def guardrail_threshold(guardrail: str, default: float) -> float:
    """The threshold a guardrail should apply now: `default`, or lower while tighten_guardrail is in force."""
    rt = get_runtime()
    try:
        return rt.threshold(guardrail, default)
    except Exception:
        rt.record_error("guardrail_threshold")
        return default
