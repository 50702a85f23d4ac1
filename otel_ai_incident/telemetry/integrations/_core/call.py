"""One instrumented API call of any client: the turn it opens (the gate), its model call, what the reply records.

The turn and the model call are entered detached: neither becomes the caller's current span. Only the SDK
call itself runs with the model call's context attached (by the wrapper, around it), so the caller's context
never holds the turn's span, and a stream may end the turn later, from another task or thread, without
detaching anyone's context.
What differs between clients (how a request and a reply read, which results are streams, whether another
instrumentation already traces the request) comes in a `ClientApi`; nothing here imports a client SDK.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_ai_incident import names
from otel_ai_incident.telemetry import hooks
from otel_ai_incident.telemetry.integrations._core import linked_turns
from otel_ai_incident.telemetry.integrations._core.reply import (
    Checker,
    Reply,
    RequestedTool,
    StreamAccumulator,
    model_reply,
)
from otel_ai_incident.telemetry.integrations._core.request import UNKNOWN_MODEL, TurnRequest
from otel_ai_incident.telemetry.model_call import ModelCall, ModelRequest


@dataclass(frozen=True, slots=True)
class ClientApi:
    """How one API of one client is read: its request, its whole reply and where that reply's text lives, its
    stream, and the instrumentation that may already trace it."""

    provider: str  # gen_ai.provider.name
    component: str  # `component` of ai_instrumentation_errors_total
    request: Callable[[Mapping[str, Any]], TurnRequest]
    reply_type: type
    reply: Callable[[Any], Reply]
    check: Callable[[Any, Checker], None]
    accumulator: Callable[[], StreamAccumulator]
    streams: tuple[type, type]  # the SDK's sync and async stream classes
    with_content: Callable[[TurnRequest], None]  # adds the input history and tool definitions (content capture)
    traced_elsewhere: Callable[[], bool]  # another instrumentation traces and counts the request itself
    server: Callable[[Any], tuple[str | None, int | None]]  # host and port the resource's client sends to


class Call:
    """Opens the turn on creation (raising ContainmentActive before anything is sent) and ends it exactly once.

    The turn's `invoke_agent` span holds the gate, the output check and the prompt-log id; the request itself
    is a `chat {model}` model call inside it, ended as soon as the reply (or the stream) is in. Made inside
    the app's own `with llm_turn(...)` block, the request is a model call of that turn instead (the gate is
    asked again before it; the turn stays the app's to end). When another instrumentation of the same client
    is active (`ClientApi.traced_elsewhere`), that one traces and counts the request: this call then opens no
    model call of its own (one `chat` span, one duration record), and its span, started inside the turn's
    context, becomes the turn's child.
    """

    __slots__ = (
        "_check_output",
        "_chunks_seen",
        "_elsewhere",
        "_ended",
        "_held",
        "_model_call",
        "_owns_turn",
        "_partial",
        "_turn",
        "api",
        "otel_context",
    )

    def __init__(
        self,
        api: ClientApi,
        kwargs: Mapping[str, Any],
        resource: Any,
        *,
        check_output: bool,
    ) -> None:
        self.api = api
        self._check_output = check_output
        request = _read(api, kwargs)
        outer = hooks.current_turn()
        self._owns_turn = outer is None
        if outer is None:
            self._turn = hooks.llm_turn(
                model=request.model,
                user_id=request.user_id,
                session_id=request.session_id,
                system_prompt=request.system_prompt,
                user_message=request.user_message,
                provider=request.provider or api.provider,
            )
            self._turn.enter_detached()
        else:
            outer.check_gate()
            self._turn = outer
        self._model_call: ModelCall | None = None
        self._held: object | None = None
        self._elsewhere = api.traced_elsewhere()
        if self._elsewhere:
            linked_turns.link(self._turn)  # so the other instrumentation's span can be told whose it is
        else:
            self._open_model_call(request, resource)
        #: What the SDK call runs under: the model call's span (or the turn's) as the current span.
        self.otel_context = self._model_call.context if self._model_call is not None else self._turn.context
        self._partial: StreamAccumulator | None = None
        self._chunks_seen = False
        self._ended = False

    def _open_model_call(self, request: TurnRequest, resource: Any) -> None:
        try:
            settings = request.call if request.call is not None else ModelRequest()
            settings.server_address, settings.server_port = self.api.server(resource)
            if not self._owns_turn:  # the app's turn may name another model and provider than this request
                settings.model, settings.provider = request.model, request.provider or self.api.provider
            rt = hooks.get_runtime()
            if rt.content_on_span or rt.content_in_event:
                self.api.with_content(request)
            model_call = self._turn.model_call(settings)
        except Exception:
            hooks.get_runtime().record_error(self.api.component)
            return
        self._model_call = model_call.enter_detached()

    def returned(self, result: Any) -> None:
        """The call returned a whole reply: record it, check it in place if asked, end the turn."""
        try:
            if isinstance(result, self.api.reply_type):
                reply = self.api.reply(result)
                self._end_model_call(reply, None)
                if self._check_output:
                    self.api.check(result, self._turn.check_output)
                    reply.text = self.api.reply(result).text
                self._record(reply)
        except Exception:
            hooks.get_runtime().record_error(self.api.component)
        self.end(None)

    def stream_started(self, token: object) -> None:
        """A stream came back. `token` attached the call's context around the SDK call; it is detached now,
        unless another instrumentation traces the request: that one detaches its own context when its stream
        ends, which restores ours, so ours is detached only then, after it (`end`)."""
        self._partial = self.api.accumulator()
        if self._elsewhere:
            self._held = token
        else:
            otel_context.detach(token)

    def chunk(self, chunk: Any) -> None:
        try:
            if not self._chunks_seen:
                self._chunks_seen = True
                if self._model_call is not None:
                    self._model_call.first_chunk()
            self._partial.add(chunk)
        except Exception:
            hooks.get_runtime().record_error(self.api.component)

    def stream_ended(self, exc: BaseException | None) -> None:
        """The stream was exhausted, closed or failed: record what arrived, then end the turn.

        The output check runs on the assembled text; it can count and log what it finds, but the chunks are
        already with the caller, so nothing is redacted there. The turn records the checked text.
        """
        if self._ended:
            return
        try:
            reply = self._partial.reply()
            self._end_model_call(reply, exc)
            if self._check_output and reply.text:
                reply.text = self._turn.check_output(reply.text)
            self._record(reply)
        except Exception:
            hooks.get_runtime().record_error(self.api.component)
        self.end(exc)

    def end(self, exc: BaseException | None) -> None:
        """End the model call and the turn once; an exception marks both as errors."""
        if self._ended:
            return
        self._ended = True
        self._end_model_call(None, exc)
        linked_turns.unlink(self._turn)
        if self._held is not None:
            otel_context.detach(self._held)  # logs, never raises, if the stream ended in another context
            self._held = None
        if self._owns_turn:
            self._turn.exit_detached(exc)

    def _end_model_call(self, reply: Reply | None, exc: BaseException | None) -> None:
        """End the model call with its reply (the first time only); without one, hand the turn the usage."""
        model_call = self._model_call
        if model_call is None:
            if reply is not None:  # traced by another instrumentation: the requested tools go on the turn
                self._turn.model_call_traced_elsewhere(model_reply(reply, capture=False))
                record_requested_tools(self._turn.span, reply.tools)
            return
        self._model_call = None
        if reply is not None:
            rt = hooks.get_runtime()
            model_call.reply(model_reply(reply, capture=rt.content_on_span or rt.content_in_event))
            record_requested_tools(model_call.span, reply.tools)
        model_call.exit_detached(exc)

    def _record(self, reply: Reply) -> None:
        turn = self._turn
        if reply.refused:
            turn.refusal()
        turn.complete(
            reply.text,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            response_model=reply.response_model,
            finish_reasons=reply.finish_reasons or None,
        )


def record_requested_tools(span: trace.Span, tools: tuple[RequestedTool, ...]) -> None:
    """The model asking for a tool is not the tool running (the app's `execute_tool` span, if it runs it):
    each requested call is an event on the chat span, its arguments only with content capture on."""
    capture = hooks.get_runtime().capture_content
    for tool in tools:
        attributes = {names.GEN_AI_TOOL_NAME: tool.name}
        if tool.call_id:
            attributes[names.GEN_AI_TOOL_CALL_ID] = tool.call_id
        if capture and tool.arguments is not None:
            attributes[names.GEN_AI_TOOL_CALL_ARGUMENTS] = tool.arguments
        span.add_event(names.AI_TOOL_CALL_REQUESTED, attributes)


def _read(api: ClientApi, kwargs: Mapping[str, Any]) -> TurnRequest:
    """The request as the turn sees it; if it cannot be read, a turn on an unknown model (the gate still runs)."""
    try:
        return api.request(kwargs)
    except Exception:
        hooks.get_runtime().record_error(api.component)
        return TurnRequest(model=UNKNOWN_MODEL)
