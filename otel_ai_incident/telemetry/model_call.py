"""One model call inside a turn: a `chat {model}` CLIENT span covering the request only, and its metrics.

The turn (`invoke_agent`) holds the app's work: the gate, guardrails, tools, the prompt log. The model call
is what the GenAI conventions call the inference span: it starts when the request is sent and ends when
the reply (or the last streamed chunk) is in, so app work inside a turn never counts as model latency. Its
duration and token metrics carry the response model and the server, under the names of every selected
convention generation; with event capture on, it also emits a `gen_ai.client.inference.operation.details`
event holding the content.
"""

from __future__ import annotations

import contextlib
import time
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_ai_incident import names
from otel_ai_incident.telemetry.attributes import ModelAttributes
from otel_ai_incident.telemetry.content import Message, text_part, to_json
from otel_ai_incident.telemetry.scope import Scope

if TYPE_CHECKING:
    from otel_ai_incident.telemetry.runtime import Runtime

COMPONENT = "model_call"

#: Whether a request to a model is being traced in this context: True inside `with turn.model_call()` or an
#: integration's wrapper around the SDK call; a model call that a callback integration opened and claimed the
#: context for (LangChain's, see `ModelCall.claim_requests`), while that call is open. A client library called
#: underneath (OpenAI's SDK under LiteLLM or a LangChain chat model) then adds no turn and no model call of its
#: own: one request, one `chat` span. Read it with `request_traced()`.
REQUEST_TRACED: ContextVar[bool | ModelCall] = ContextVar("otel_ai_incident.request_traced", default=False)


def request_traced() -> bool:
    """Whether a request sent from the current context is already traced, so a client integration adds nothing."""
    traced = REQUEST_TRACED.get()
    # A claiming call holds its token until it ends (`_finish` drops it): a claim left behind counts for nothing.
    return traced is True or (traced is not False and traced._traced is not None)


@dataclass(slots=True)
class ModelRequest:
    """What a model call asks for. Content fields (instructions, messages, tool definitions) are recorded
    only when content capture is on."""

    model: str | None = None  # None: the turn's model
    provider: str | None = None  # gen_ai.provider.name; None: the turn's
    server_address: str | None = None
    server_port: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stream: bool | None = None
    system_instructions: str | None = None
    input_messages: list[Message] | None = None
    tool_definitions: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class ModelReply:
    """What the model answered, as the inference span and metrics record it."""

    response_id: str | None = None
    response_model: str | None = None
    finish_reasons: tuple[str, ...] = ()
    input_tokens: int | None = None
    output_tokens: int | None = None
    output_messages: list[Message] | None = None
    cache_read_tokens: int | None = None  # part of input_tokens
    cache_creation_tokens: int | None = None  # part of input_tokens


class TurnLink(Protocol):
    """What a model call reports back to: its turn, which keeps the usage for the prompt log."""

    def _model_call_done(self, reply: ModelReply | None) -> None:
        """The call ended, with this reply (None when it failed before one arrived)."""


class ModelCall(Scope):
    """A sync or async context manager around one request to the model; `reply()` records the answer."""

    __slots__ = (
        "_attrs",
        "_content",
        "_context",
        "_conversation",
        "_ctx_token",
        "_parent",
        "_reply",
        "_request",
        "_rt",
        "_span",
        "_start",
        "_traced",
        "_turn",
    )

    def __init__(
        self,
        turn: TurnLink,
        runtime: Runtime,
        parent: otel_context.Context | None,
        model: ModelAttributes,
        request: ModelRequest,
        conversation_id: str | None = None,
    ) -> None:
        self._turn = turn
        self._conversation = conversation_id
        self._rt = runtime
        self._parent = parent
        self._attrs = model
        self._request = request
        self._reply: ModelReply | None = None
        self._span: trace.Span = trace.INVALID_SPAN
        self._context: otel_context.Context | None = None
        #: The request's and the reply's content as JSON, encoded once for the span and the details event.
        self._content: dict[str, str] = {}
        self._ctx_token: object | None = None
        self._traced: Token[bool | ModelCall] | None = None
        self._start = 0.0

    @property
    def span(self) -> trace.Span:
        return self._span

    @property
    def context(self) -> otel_context.Context:
        """The context with this call's span current: what the client library's own spans (HTTP) run under,
        and what the call's histogram records are made in."""
        if self._context is None:  # not started (yet, or at all)
            return trace.set_span_in_context(self._span, self._parent)
        return self._context

    def _open(self, attach: bool) -> ModelCall:
        try:
            self._start_span()
            if attach:  # the client library's own spans (HTTP) hang off the model call
                self._ctx_token = otel_context.attach(self.context)
                self._traced = REQUEST_TRACED.set(True)
        except Exception:
            self._rt.record_error(COMPONENT)
        self._start = time.perf_counter()
        return self

    def _start_span(self) -> None:
        rt, request = self._rt, self._request
        attributes: dict[str, Any] = dict(self._attrs.operation)
        if self._conversation is not None:
            attributes[names.GEN_AI_CONVERSATION_ID] = self._conversation
        if request.server_address is not None:
            attributes[names.SERVER_ADDRESS] = request.server_address
            if request.server_port is not None:
                attributes[names.SERVER_PORT] = request.server_port
        if request.temperature is not None:
            attributes[names.GEN_AI_REQUEST_TEMPERATURE] = float(request.temperature)
        if request.max_tokens is not None:
            attributes[names.GEN_AI_REQUEST_MAX_TOKENS] = int(request.max_tokens)
        if request.top_p is not None:
            attributes[names.GEN_AI_REQUEST_TOP_P] = float(request.top_p)
        if request.stream is not None:
            attributes[names.GEN_AI_REQUEST_STREAM] = request.stream
        if rt.content_on_span or rt.content_in_event:
            self._content = _request_content(request)
            if rt.content_on_span:
                attributes.update(self._content)
        span = rt.tracer.start_span(
            self._attrs.chat_span_name, context=self._parent, kind=SpanKind.CLIENT, attributes=attributes
        )
        self._span = span
        self._context = trace.set_span_in_context(span, self._parent)

    def claim_requests(self) -> None:
        """Make this call the one that traces the requests sent from the current context while it is open.

        For an integration that only sees callbacks (LangChain): the chat model then sends its request through a
        client library whose own integration may be on too, and that one adds no turn and no `chat` span. The
        claim is undone when the call ends in the same context; one left behind (LangChain ends async runs in
        tasks of their own) counts for nothing once the call has ended."""
        self._traced = REQUEST_TRACED.set(self)

    def first_chunk(self) -> None:
        """The first streamed chunk arrived: `gen_ai.response.time_to_first_chunk` on the span."""
        try:
            self._span.set_attribute(names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, time.perf_counter() - self._start)
        except Exception:
            self._rt.record_error(COMPONENT)

    def reply(self, reply: ModelReply) -> None:
        """Record the model's answer (call once, before the block ends)."""
        rt = self._rt
        try:
            self._reply = reply
            attributes = _response_attributes(reply, {})
            if reply.input_tokens is not None:
                attributes[names.GEN_AI_USAGE_INPUT_TOKENS] = reply.input_tokens
            if reply.output_tokens is not None:
                attributes[names.GEN_AI_USAGE_OUTPUT_TOKENS] = reply.output_tokens
            if reply.cache_read_tokens is not None:
                attributes[names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = reply.cache_read_tokens
            if reply.cache_creation_tokens is not None:
                attributes[names.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = reply.cache_creation_tokens
            if (rt.content_on_span or rt.content_in_event) and reply.output_messages is not None:
                self._content[names.GEN_AI_OUTPUT_MESSAGES] = to_json(reply.output_messages)
                if rt.content_on_span:
                    attributes[names.GEN_AI_OUTPUT_MESSAGES] = self._content[names.GEN_AI_OUTPUT_MESSAGES]
            self._span.set_attributes(attributes)
        except Exception:
            rt.record_error(COMPONENT)

    def _finish(self, exc: BaseException | None) -> None:
        rt = self._rt
        try:
            duration = time.perf_counter() - self._start
            reply = self._reply
            error_type = None if exc is None else type(exc).__qualname__
            request = self._request
            labels = rt.attributes.inference(
                self._attrs,
                reply.response_model if reply is not None else None,
                request.server_address,
                request.server_port,
            )
            tokens = (reply.input_tokens, reply.output_tokens) if reply is not None else (None, None)
            for metrics in rt.instruments.inference:
                metrics.record(duration, labels, error_type, tokens, self.context)
            span = self._span
            if error_type is not None:
                # The exception's message may hold user text: only its type goes on the span.
                span.set_attribute(names.ERROR_TYPE, error_type)
                span.set_status(Status(StatusCode.ERROR))
            if rt.content_in_event:
                self._emit_details(error_type)
            span.end()
            self._turn._model_call_done(reply)
        except Exception:
            rt.record_error(COMPONENT)
        finally:
            if self._traced is not None:
                with contextlib.suppress(ValueError):  # made in another context: it lapsed as the call ended
                    REQUEST_TRACED.reset(self._traced)
                self._traced = None
            if self._ctx_token is not None:
                otel_context.detach(self._ctx_token)
                self._ctx_token = None

    def _emit_details(self, error_type: str | None) -> None:
        """The opt-in `gen_ai.client.inference.operation.details` event: the call and its content."""
        attributes: dict[str, Any] = dict(self._attrs.operation)
        reply = self._reply
        if reply is not None:
            _response_attributes(reply, attributes)
        attributes.update(self._content)  # the request's content, and the reply's output messages
        if error_type is not None:
            attributes[names.ERROR_TYPE] = error_type
        self._rt.events.emit(
            event_name=names.EVENT_INFERENCE_DETAILS,
            attributes=attributes,
            context=self.context,
        )


def _response_attributes(reply: ModelReply, attributes: dict[str, Any]) -> dict[str, Any]:
    """Add what identifies the answer (id, response model, finish reasons) to `attributes`, and return it."""
    if reply.response_id is not None:
        attributes[names.GEN_AI_RESPONSE_ID] = reply.response_id
    if reply.response_model is not None:
        attributes[names.GEN_AI_RESPONSE_MODEL] = reply.response_model
    if reply.finish_reasons:
        attributes[names.GEN_AI_RESPONSE_FINISH_REASONS] = reply.finish_reasons
    return attributes


def _request_content(request: ModelRequest) -> dict[str, str]:
    content: dict[str, str] = {}
    if request.system_instructions is not None:
        content[names.GEN_AI_SYSTEM_INSTRUCTIONS] = to_json([text_part(request.system_instructions)])
    if request.input_messages is not None:
        content[names.GEN_AI_INPUT_MESSAGES] = to_json(request.input_messages)
    if request.tool_definitions is not None:
        content[names.GEN_AI_TOOL_DEFINITIONS] = to_json(request.tool_definitions)
    return content
