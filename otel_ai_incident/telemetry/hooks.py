"""The hooks an app calls around each LLM turn: spans, metrics, the gate and the prompt log in one place.

A turn is the GenAI conventions' `invoke_agent` span (INTERNAL), chosen over a name of our own because a turn
is what that span describes: the application's work on one request, holding its guardrail checks
(`run_guardrail`), tool executions (`execute_tool`) and the prompt-log id. Each request to the model inside
it is a `chat {model}` CLIENT span of its own (`Turn.model_call`), so app work never shows as model latency
and the model-call metrics measure the model only.

Two promises shape this module. The app's own exceptions pass through unchanged (after being recorded),
and nothing that goes wrong in our code ever reaches the app: it is caught, counted in
`ai.instrumentation.errors` and logged once. The only exception we raise on purpose is ContainmentActive.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextvars import ContextVar, Token
from random import getrandbits
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_ai_incident import names
from otel_ai_incident.errors import ContainmentActive
from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.telemetry.attributes import DECISIONS, STAGES, ModelAttributes
from otel_ai_incident.telemetry.content import text_message, to_json
from otel_ai_incident.telemetry.guardrail_check import GuardrailCheck
from otel_ai_incident.telemetry.model_call import ModelCall, ModelReply, ModelRequest
from otel_ai_incident.telemetry.runtime import (
    DEFAULT_ANOMALY_THRESHOLD,
    DEFAULT_PROVIDER,
    Runtime,
    default_runtime,
    get_runtime,
    set_runtime,
)
from otel_ai_incident.telemetry.scope import Scope
from otel_ai_incident.telemetry.tool_call import ToolCall

__all__ = [
    "DEFAULT_ANOMALY_THRESHOLD",
    "DEFAULT_PROVIDER",
    "GuardrailCheck",
    "ModelCall",
    "ModelReply",
    "ModelRequest",
    "Runtime",
    "ToolCall",
    "Turn",
    "current_turn",
    "default_runtime",
    "get_runtime",
    "guardrail_threshold",
    "llm_turn",
    "report_user_feedback",
    "set_runtime",
]

AI_REFUSAL = "ai.refusal"

# Accept our enums or their plain values, and always hand plain strings to OpenTelemetry.
_SEVERITIES = {**{s.value: s.value for s in names.Severity}, **{s: s.value for s in names.Severity}}


# The turn a `with llm_turn(...)` block holds in this context: a client integration called inside it makes its
# request a model call of that turn instead of a turn of its own.
_CURRENT_TURN: ContextVar[Turn | None] = ContextVar("otel_ai_incident.current_turn", default=None)


def current_turn() -> Turn | None:
    """The turn of the innermost `with llm_turn(...)` (or `async with`) block around this code, if any."""
    return _CURRENT_TURN.get()


def new_log_id() -> str:
    """Time-sortable and cheap: 48 bits of milliseconds, then 64 random bits, as hex."""
    return f"{time.time_ns() // 1_000_000:012x}{getrandbits(64):016x}"


class Turn(Scope):
    """One LLM turn: an `invoke_agent` span holding the app's work, the turn's metrics, its prompt-log entry.

    The turn is the application's unit (the gate, guardrails, tools, the prompt-log id); each request to the
    model inside it is a `chat {model}` CLIENT span of its own (`model_call()`, which the client
    integrations open around the SDK call), so app work never counts as model latency. Use it as a (sync or
    async) context manager. Child spans take the turn's span as parent explicitly, so calling the methods
    from other threads or tasks keeps the tree right.
    """

    __slots__ = (
        "_attrs",
        "_ctx",
        "_current",
        "_error_type",
        "_finish_reasons",
        "_guardrails",
        "_input_tokens",
        "_model_calls",
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
        "_usage_recorded",
        "agent_name",
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
        agent_name: str | None = None,
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
        self.agent_name = agent_name
        self.log_id = new_log_id()
        self._span: trace.Span = trace.INVALID_SPAN
        self._ctx: otel_context.Context | None = None
        self._token: object | None = None
        self._current: Token[Turn | None] | None = None
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
        self._model_calls = 0
        self._usage_recorded = False

    @property
    def user_pseudonym(self) -> str | None:
        return self._pseudonym

    @property
    def span(self) -> trace.Span:
        """The turn's `invoke_agent` span once entered (a non-recording one before, or if it could not start)."""
        return self._span

    @property
    def context(self) -> otel_context.Context:
        """A context with the turn's span current (the caller's, if the span could not start)."""
        return self._ctx if self._ctx is not None else otel_context.get_current()

    # -- entering and leaving -------------------------------------------------------------------------

    def _open(self, attach: bool) -> Turn:
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
            if attach:
                self._token = otel_context.attach(self._ctx)
                self._current = _CURRENT_TURN.set(self)
        except Exception:
            rt.record_error("llm_turn")
        if blocked is not None:
            self._refuse(*blocked)
        return self

    def _start_span(self) -> None:
        rt = self._rt
        attributes: dict[str, Any] = {
            names.GEN_AI_OPERATION_NAME: names.OPERATION_INVOKE_AGENT,
            names.GEN_AI_REQUEST_MODEL: self.model,
            names.AI_PROMPT_LOG_ID: self.log_id,
        }
        span_name = names.OPERATION_INVOKE_AGENT
        if self.agent_name is not None:
            attributes[names.GEN_AI_AGENT_NAME] = self.agent_name
            span_name = f"{span_name} {self.agent_name}"
        if self.session_id is not None:
            attributes[names.GEN_AI_CONVERSATION_ID] = self.session_id
        if self._pseudonym is not None:
            attributes[names.ENDUSER_PSEUDO_ID] = self._pseudonym
        if self.system_prompt is not None:
            self._prompt_hash = rt.prompt_hash(self.system_prompt)
            attributes[names.AI_SYSTEM_PROMPT_HASH] = self._prompt_hash
        if rt.content_on_span:
            if self.system_prompt is not None:
                attributes[names.GEN_AI_SYSTEM_INSTRUCTIONS] = _text_parts(self.system_prompt)
            if self.user_message is not None:
                attributes[names.GEN_AI_INPUT_MESSAGES] = _messages("user", self.user_message)
        self._start = time.perf_counter()
        span = rt.tracer.start_span(span_name, kind=SpanKind.INTERNAL, attributes=attributes)
        self._span = span
        self._ctx = trace.set_span_in_context(span)

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

    def check_gate(self) -> None:
        """Ask the gate again before another request of this turn (an agent's next step), so a kill switch or
        a rate limit set since the turn began stops the request: ContainmentActive, recorded on the turn's
        span and counted; the turn itself ends as contained when the exception leaves its block."""
        rt = self._rt
        try:
            blocked = rt.gate.turn_blocked(self._pseudonym)
            if blocked is not None:
                rt.instruments.containment_enforced.add(1, {names.ACTION: blocked[0]})
                self._span.set_attribute(names.AI_CONTAINMENT_ACTION, blocked[0])
        except Exception:
            rt.record_error("llm_turn")
            return
        if blocked is not None:
            raise ContainmentActive(*blocked)

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
            rt.instruments.turns.add(1, self._attrs.turns[outcome])
            self._end_span()
            if rt.prompt_log is not None:
                rt.prompt_log.submit(self._entry(duration, outcome))
        except Exception:
            rt.record_error("llm_turn")
        finally:
            if self._current is not None:
                _CURRENT_TURN.reset(self._current)
                self._current = None
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

    def model_call(self, request: ModelRequest | None = None, **fields: Any) -> ModelCall:
        """A context manager around one request to the model: a `chat {model}` CLIENT span and the model-call
        metrics (duration, tokens). Give the request as a `ModelRequest` or as its fields (temperature=...,
        max_tokens=..., server_address=...); record the answer with `call.reply(ModelReply(...))`."""
        request = request if request is not None else ModelRequest(**fields)
        rt = self._rt
        model = self._attrs
        provider = request.provider or self.provider
        if (request.model is not None and request.model != self.model) or provider != self.provider:
            model = rt.attributes.model(request.model or self.model, provider)
        self._model_calls += 1
        return ModelCall(self, rt, self._ctx, model, request, self.session_id)

    def model_call_traced_elsewhere(self, reply: ModelReply) -> None:
        """A model call of this turn that another instrumentation traced and counted (the official OpenAI
        instrumentation, say): its usage goes into the prompt log, and into no metric of ours."""
        self._model_call_done(reply)

    def _model_call_done(self, reply: ModelReply | None) -> None:
        """A model call of this turn ended: its usage is the turn's (for the prompt log), already counted."""
        if reply is None:
            return
        if reply.input_tokens is not None or reply.output_tokens is not None:
            self._usage_recorded = True
            self._input_tokens = (self._input_tokens or 0) + (reply.input_tokens or 0)
            self._output_tokens = (self._output_tokens or 0) + (reply.output_tokens or 0)
        if reply.response_model is not None:
            self._response_model = reply.response_model
        if reply.finish_reasons:
            self._finish_reasons = reply.finish_reasons

    def guardrail(self, name: str, *, stage: str, decision: str, score: float | None = None) -> None:
        """Record a guardrail decision made elsewhere: a counter, a guardrail child span, the prompt log.

        The span of a decision handed in afterwards has no duration to show; time a check with
        `guardrail_check()` instead, whose span covers the check itself."""
        self._guardrail(name, stage, decision, score, None)

    def guardrail_check(self, name: str, *, stage: str) -> GuardrailCheck:
        """A context manager around one guardrail check: its span starts on entry and ends on exit; call
        `check.decide(decision, score=...)` inside with the outcome."""
        return GuardrailCheck(self._rt, self._ctx, name, stage, self._guardrail_logged)

    def _guardrail(self, name: str, stage: str, decision: str, score: float | None, started_ns: int | None) -> None:
        """Count one decision and give it a span (from `started_ns`, when the check's start is known)."""
        rt = self._rt
        try:
            stage_value = STAGES[stage]
            decision_value = DECISIONS[decision]
            cached = rt.attributes.guardrail(name, stage_value, decision_value)
            rt.instruments.guardrail_decisions.add(1, cached.metric)
            attributes = cached.span
            if score is not None:
                attributes = {**attributes, **dict.fromkeys(cached.score_keys, float(score))}
            rt.tracer.start_span(
                cached.span_name, context=self._ctx, attributes=attributes, start_time=started_ns
            ).end()
            self._guardrail_logged(name, stage_value, decision_value, score)
        except Exception:
            rt.record_error("guardrail")

    def _guardrail_logged(self, name: str, stage: str, decision: str, score: float | None) -> None:
        self._guardrails.append({"guardrail": name, "stage": stage, "decision": decision, "score": score})

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

        Findings are counted by entity type in `ai.pii.detections` and recorded as a `pii` guardrail decision
        whose span covers the check; the detected values themselves go nowhere. If the guard itself fails,
        the reply is returned unchanged and the failure counted: the app keeps working, and the error shows
        in `ai.instrumentation.errors`.
        """
        rt = self._rt
        guard = rt.output_guard
        if guard is None:
            return text
        try:
            stage = names.Stage.OUTPUT.value
            with self.guardrail_check(names.GUARDRAIL_PII, stage=stage) as check:
                result = guard.check(text)
                check.decide(result.decision)
            for entity_type, count in result.entity_counts.items():
                labels = {names.STAGE: stage, names.ENTITY_TYPE: entity_type, names.ACTION: result.action}
                rt.instruments.pii_detections.add(count, labels)
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
        """Record the turn's answer (call once, with the text the user will see) and its usage.

        Usage a `model_call()` of this turn already recorded is not counted again; without one (an app that
        calls its model without `model_call()`), the tokens given here feed the token metrics, and the
        model-call duration stays unknown.
        """
        rt = self._rt
        try:
            self._response = text
            if response_model is not None:
                self._response_model = response_model
            if finish_reasons is not None:
                self._finish_reasons = tuple(finish_reasons)
            if not self._usage_recorded and (input_tokens is not None or output_tokens is not None):
                self._input_tokens = input_tokens
                self._output_tokens = output_tokens
                labels = rt.attributes.inference(self._attrs, self._response_model, None, None)
                for metrics in rt.instruments.inference:
                    metrics.record_tokens(labels, (input_tokens, output_tokens), self._ctx)
            attributes: dict[str, Any] = {}  # set on the span in one call: one lock, one validation pass
            if self._input_tokens is not None:
                attributes[names.GEN_AI_USAGE_INPUT_TOKENS] = self._input_tokens
            if self._output_tokens is not None:
                attributes[names.GEN_AI_USAGE_OUTPUT_TOKENS] = self._output_tokens
            if not self._model_calls:  # else they are on the model calls' spans, where they belong
                if self._response_model is not None:
                    attributes[names.GEN_AI_RESPONSE_MODEL] = self._response_model
                if self._finish_reasons is not None:
                    attributes[names.GEN_AI_RESPONSE_FINISH_REASONS] = self._finish_reasons
            if rt.content_on_span and text is not None:
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


def _text_parts(text: str) -> str:
    return to_json([{"type": "text", "content": text}])


def _messages(role: str, text: str) -> str:
    return to_json([text_message(role, text)])


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
    agent_name: str | None = None,
) -> Turn:
    """Open one LLM turn; use as `with llm_turn(...) as turn:` (or `async with`).

    `user_id` is pseudonymised before it goes anywhere. Raises ContainmentActive on entry while a kill
    switch or a rate limit on this user is in force. The turn's span is `invoke_agent {agent_name}`
    (`invoke_agent` without one); wrap each request to the model in `turn.model_call()`, or call an
    instrumented client inside the block: its requests become this turn's model calls.
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
        agent_name=agent_name,
    )


def report_user_feedback(
    kind: str = names.REPORT_KIND_HARMFUL,
    severity: str = names.Severity.P3.value,
    *,
    session_id: str | None = None,
    log_id: str | None = None,
) -> None:
    """Record a user's report of a bad answer (`kind` like "harmful"; `severity` p1, p2 or p3).

    The counter carries only kind and severity. The report is also a `gen_ai.evaluation.result` event
    (evaluation `user_feedback`, the kind as its score label) with the session and the prompt-log entry
    reported, so it can be joined to the turn; it goes wherever the app's OpenTelemetry logs go.
    """
    rt = get_runtime()
    try:
        severity_value = _SEVERITIES[severity.lower() if isinstance(severity, str) else severity]
        rt.instruments.see_report_kind(kind)
        rt.instruments.user_reports.add(1, {names.KIND: kind, names.SEVERITY: severity_value})
        attributes = {
            names.GEN_AI_EVALUATION_NAME: names.EVALUATION_USER_FEEDBACK,
            names.GEN_AI_EVALUATION_SCORE_LABEL: kind,
            names.AI_USER_REPORT_SEVERITY: severity_value,
        }
        if session_id is not None:
            attributes[names.GEN_AI_CONVERSATION_ID] = session_id
        if log_id is not None:
            attributes[names.AI_PROMPT_LOG_ID] = log_id
        rt.events.emit(event_name=names.EVENT_EVALUATION_RESULT, attributes=attributes)
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
