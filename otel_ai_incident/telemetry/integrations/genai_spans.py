"""The GenAI span bridge: inference spans that another instrumentation emits feed our turn metrics and the
prompt log, for model calls our wrappers do not see.

    instrument(integrations=["genai_spans"])       # on the global tracer provider
    INTEGRATION.instrument(tracer_provider)         # or on a provider of your own

Whatever emits spans with the GenAI conventions (`gen_ai.operation.name` = chat, text_completion or
generate_content): OpenTelemetry's official instrumentations, OpenLLMetry, OpenLIT, the Anthropic SDK's own
tracing. When such a span ends, the bridge counts a turn (`ai.turns`, outcome ok or error from the span's
status), a refusal when a finish reason is `content_filter` or `refusal`, and writes a prompt-log entry
with the span's usage and, when that instrumentation captured content (`gen_ai.input.messages`,
`gen_ai.output.messages`, `gen_ai.system_instructions`), the last user message and the reply. The user and
session are `turn_context`'s, else the span's `gen_ai.conversation.id` for the session.

The model-call duration and token metrics are recorded only for spans of instrumentations that record no
metrics of their own: those whose scope starts with `opentelemetry.` (OpenTelemetry's, those built on
`opentelemetry-util-genai`, OpenLLMetry's) or `openlit` already do, and counting again would double them
(`GenAISpanBridge(model_metrics=...)` overrides).

Spans our own wrappers are part of are skipped, so nothing is counted twice: a GenAI span inside one of our
turns (the official OpenAI instrumentation under ours), or around one (ours under theirs).

Containment needs our gate, which a span cannot give: a span ends after the request was sent. Wrap each
request in `llm_turn` (or enable the client's integration) where the kill switch must stop calls; the
bridge then stays out of the way, since those spans are inside our turns.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from otel_ai_incident import names
from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.telemetry import hooks
from otel_ai_incident.telemetry.turn_context import current_turn_context

__all__ = ["INTEGRATION", "GenAISpanBridge", "GenAISpansIntegration"]

logger = logging.getLogger("otel_ai_incident")

COMPONENT = "genai_span_bridge"
_INFERENCE = frozenset({names.OPERATION_CHAT, names.OPERATION_TEXT_COMPLETION, names.OPERATION_GENERATE_CONTENT})
_REFUSALS = frozenset({"content_filter", "refusal"})
# Scope prefixes of instrumentations that record the model-call metrics themselves: OpenTelemetry's own
# (`opentelemetry.instrumentation.*`, and `opentelemetry.util.genai.*` for those built on util-genai),
# OpenLLMetry's (`opentelemetry.instrumentation.*` too) and OpenLIT's.
_RECORD_OWN_METRICS = ("opentelemetry.", "openlit")
UNKNOWN = "unknown"


def _inference(span: Any) -> bool:
    """Whether a span (as started, or ended) is an inference span of the conventions."""
    return (getattr(span, "attributes", None) or {}).get(names.GEN_AI_OPERATION_NAME) in _INFERENCE


def _scope(span: Any) -> str | None:
    scope = getattr(span, "instrumentation_scope", None)
    return scope.name if scope is not None else None


class GenAISpanBridge(SpanProcessor):
    """A span processor turning other instrumentations' inference spans into our turns' metrics and log."""

    def __init__(self, model_metrics: bool | None = None) -> None:
        self.enabled = True
        self.model_metrics = model_metrics  # None: unless the span's instrumentation records its own
        self._covered: set[int] = set()  # ids of spans our wrappers are inside of, or around
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        """Note which spans one of our turns covers: a span started inside ours, or one of ours started inside
        another instrumentation's span."""
        if not self.enabled:
            return
        try:
            parent = trace.get_current_span(parent_context)
            parent_id = parent.get_span_context().span_id
            parent_scope = _scope(parent)
            with self._lock:
                if _scope(span) == names.INSTRUMENTATION_SCOPE:
                    # Only an inference span around ours is covered: the app's own spans (a request, a job)
                    # may hold our turns and, beside them, calls only the bridge sees.
                    if parent_scope not in (None, names.INSTRUMENTATION_SCOPE) and _inference(parent):
                        self._covered.add(parent_id)
                elif parent_scope == names.INSTRUMENTATION_SCOPE or parent_id in self._covered:
                    self._covered.add(span.get_span_context().span_id)
        except Exception:
            hooks.get_runtime().record_error(COMPONENT)

    def on_end(self, span: ReadableSpan) -> None:
        if not self.enabled:
            return
        try:
            with self._lock:
                span_id = span.context.span_id
                covered = span_id in self._covered
                self._covered.discard(span_id)
            if not covered and _scope(span) != names.INSTRUMENTATION_SCOPE and _inference(span):
                self._record(span, span.attributes)
        except Exception:
            hooks.get_runtime().record_error(COMPONENT)

    def _record(self, span: ReadableSpan, attributes: Any) -> None:
        rt = hooks.get_runtime()
        model = attributes.get(names.GEN_AI_REQUEST_MODEL) or attributes.get(names.GEN_AI_RESPONSE_MODEL) or UNKNOWN
        provider = attributes.get(names.GEN_AI_PROVIDER_NAME) or attributes.get(names.GEN_AI_SYSTEM) or UNKNOWN
        model_attributes = rt.attributes.model(str(model), str(provider))
        error_type = attributes.get(names.ERROR_TYPE)
        if error_type is None and span.status.status_code is StatusCode.ERROR:
            error_type = names.ERROR_TYPE_OTHER  # not the status description: it may hold the error's message
        outcome = names.TurnOutcome.ERROR.value if error_type is not None else names.TurnOutcome.OK.value
        rt.instruments.turns.add(1, model_attributes.turns[outcome])
        finish_reasons = tuple(attributes.get(names.GEN_AI_RESPONSE_FINISH_REASONS) or ())
        refused = any(reason in _REFUSALS for reason in finish_reasons)
        if refused:
            rt.instruments.refusals.add(1, model_attributes.refusals)
        tokens = (attributes.get(names.GEN_AI_USAGE_INPUT_TOKENS), attributes.get(names.GEN_AI_USAGE_OUTPUT_TOKENS))
        duration = ((span.end_time or 0) - (span.start_time or 0)) / 1e9
        scope = _scope(span) or ""
        own_metrics = scope.startswith(_RECORD_OWN_METRICS)
        if self.model_metrics if self.model_metrics is not None else not own_metrics:
            port = attributes.get(names.SERVER_PORT)
            labels = rt.attributes.inference(
                model_attributes,
                attributes.get(names.GEN_AI_RESPONSE_MODEL),
                attributes.get(names.SERVER_ADDRESS),
                port if isinstance(port, int) else None,
            )
            # The other instrumentation's span is over; exemplars still point at it.
            span_context = trace.set_span_in_context(trace.NonRecordingSpan(span.context))
            for metrics in rt.instruments.inference:
                metrics.record(duration, labels, error_type, tokens, span_context)
        if rt.prompt_log is not None:
            rt.prompt_log.submit(
                _entry(rt, span, attributes, str(model), tokens, duration, outcome, refused, error_type)
            )


def _entry(
    rt: hooks.Runtime,
    span: ReadableSpan,
    attributes: Any,
    model: str,
    tokens: tuple[Any, Any],
    duration: float,
    outcome: str,
    refused: bool,
    error_type: str | None,
) -> PromptLogEntry:
    context = current_turn_context()
    pseudonym = rt.pseudonymizer.pseudonymize(context.user_id) if context.user_id is not None else None
    system_prompt = _text(attributes.get(names.GEN_AI_SYSTEM_INSTRUCTIONS), None)
    span_context = span.context
    return PromptLogEntry(
        log_id=hooks.new_log_id(),
        timestamp=time.time() - duration,
        user_pseudonym=pseudonym,
        pseudonym_key_id=rt.pseudonymizer.key_id if pseudonym is not None else None,
        session_id=context.session_id or attributes.get(names.GEN_AI_CONVERSATION_ID),
        model=model,
        system_prompt_hash=rt.prompt_hash(system_prompt) if system_prompt is not None else None,
        user_message=_text(attributes.get(names.GEN_AI_INPUT_MESSAGES), "user", last=True),
        assistant_response=_text(attributes.get(names.GEN_AI_OUTPUT_MESSAGES), "assistant"),
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        latency_ms=duration * 1000.0,
        outcome=outcome,
        refused=refused,
        error_type=error_type,
        trace_id=f"{span_context.trace_id:032x}",
        span_id=f"{span_context.span_id:016x}",
        system_prompt=system_prompt,
    )


def _text(value: Any, role: str | None, *, last: bool = False) -> str | None:
    """The text parts of a captured content attribute (JSON): of the first (or last) message with `role`, or
    of the parts themselves when `role` is None (system instructions). None when nothing was captured."""
    if not isinstance(value, str):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    if not isinstance(parsed, list):
        return None
    if role is None:
        parts = parsed
    else:
        messages = [m for m in parsed if isinstance(m, dict) and m.get("role") == role]
        if not messages:
            return None
        parts = messages[-1 if last else 0].get("parts") or []
    texts = [
        p["content"]
        for p in parts
        if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("content"), str)
    ]
    return "".join(texts) if texts else None


class GenAISpansIntegration:
    """What `instrument(integrations=["genai_spans"])` turns on and off: the bridge on a tracer provider."""

    name = "genai_spans"

    def __init__(self) -> None:
        self.bridge = GenAISpanBridge()
        self.bridge.enabled = False
        self._providers: list[Any] = []
        self._lock = threading.Lock()

    def instrument(self, client: Any = None, *, check_output: bool = False) -> None:
        """Add the bridge to `client` (an SDK TracerProvider), or to the global tracer provider. A processor
        cannot be removed from a provider, so it is added once and enabled or disabled in place."""
        provider = client if client is not None else trace.get_tracer_provider()
        if not hasattr(provider, "add_span_processor"):  # no SDK (OTEL_SDK_DISABLED): no spans to bridge
            logger.warning("otel-ai-incident: the GenAI span bridge needs an SDK TracerProvider; it is off")
            hooks.get_runtime().record_error(COMPONENT)
            return
        with self._lock:
            if not any(p is provider for p in self._providers):
                provider.add_span_processor(self.bridge)
                self._providers.append(provider)
            self.bridge.enabled = True

    def uninstrument(self) -> None:
        self.bridge.enabled = False


INTEGRATION = GenAISpansIntegration()  # the process's one bridge
