"""One instrumented OpenAI call: the turn it opens (the gate), and what its reply or stream records on it.

The turn is entered in a copy of the caller's context. The caller's context therefore never holds the turn's
span, and a stream may end the turn later, from another task or thread, without detaching anyone's context.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from otel_ai_incident import names
from otel_ai_incident.telemetry import hooks
from otel_ai_incident.telemetry.integrations.openai_reply import (
    ChatStreamAccumulator,
    Checker,
    Reply,
    RequestedTool,
    ResponsesStreamAccumulator,
    StreamAccumulator,
    chat_reply,
    check_chat,
    check_responses,
    responses_reply,
)
from otel_ai_incident.telemetry.integrations.openai_request import (
    UNKNOWN_MODEL,
    TurnRequest,
    chat_request,
    responses_request,
)

PROVIDER = "openai"
COMPONENT = "openai_integration"


@dataclass(frozen=True, slots=True)
class OpenAIApi:
    """How one OpenAI API is read: its request, its whole reply and where that reply's text lives, its stream."""

    request: Callable[[Mapping[str, Any]], TurnRequest]
    reply_type: type
    reply: Callable[[Any], Reply]
    check: Callable[[Any, Checker], None]
    accumulator: Callable[[], StreamAccumulator]


CHAT = OpenAIApi(chat_request, ChatCompletion, chat_reply, check_chat, ChatStreamAccumulator)
RESPONSES = OpenAIApi(responses_request, Response, responses_reply, check_responses, ResponsesStreamAccumulator)


class Call:
    """Opens the turn on creation (raising ContainmentActive before anything is sent) and ends it exactly once."""

    __slots__ = ("_api", "_check_output", "_chunks_seen", "_context", "_ended", "_partial", "_sent", "_turn")

    def __init__(self, api: OpenAIApi, kwargs: Mapping[str, Any], *, check_output: bool) -> None:
        self._api = api
        self._check_output = check_output
        request = _read(api, kwargs)
        self._turn = hooks.llm_turn(
            model=request.model,
            user_id=request.user_id,
            session_id=request.session_id,
            system_prompt=request.system_prompt,
            user_message=request.user_message,
            provider=PROVIDER,
        )
        self._context = contextvars.copy_context()
        self._context.run(self._turn.__enter__)
        self._partial: StreamAccumulator | None = None
        self._chunks_seen = False
        self._ended = False
        self._sent = time.perf_counter()

    def returned(self, result: Any) -> None:
        """The call returned a whole reply: check it in place if asked, record it, end the turn."""
        try:
            if isinstance(result, self._api.reply_type):
                if self._check_output:
                    self._api.check(result, self._turn.check_output)
                self._record(self._api.reply(result))
        except Exception:
            hooks.get_runtime().record_error(COMPONENT)
        self.end(None)

    def stream_started(self) -> None:
        self._partial = self._api.accumulator()

    def chunk(self, chunk: Any) -> None:
        try:
            if not self._chunks_seen:
                self._chunks_seen = True
                # An attribute, not an event: it can be queried and aggregated like the span's other numbers.
                first_chunk = time.perf_counter() - self._sent
                self._turn.span.set_attribute(names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, first_chunk)
            self._partial.add(chunk)
        except Exception:
            hooks.get_runtime().record_error(COMPONENT)

    def stream_ended(self, exc: BaseException | None) -> None:
        """The stream was exhausted, closed or failed: record what arrived, then end the turn.

        The output check runs on the assembled text; it can count and log what it finds, but the chunks are
        already with the caller, so nothing is redacted there. The turn records the checked text.
        """
        if self._ended:
            return
        try:
            reply = self._partial.reply()
            if self._check_output and reply.text:
                reply.text = self._turn.check_output(reply.text)
            self._record(reply)
        except Exception:
            hooks.get_runtime().record_error(COMPONENT)
        self.end(exc)

    def end(self, exc: BaseException | None) -> None:
        """End the turn once; an exception marks it as an error (the hooks count it and tag the span)."""
        if self._ended:
            return
        self._ended = True
        if exc is None:
            self._context.run(self._turn.__exit__, None, None, None)
        else:
            self._context.run(self._turn.__exit__, type(exc), exc, exc.__traceback__)

    def _record(self, reply: Reply) -> None:
        turn = self._turn
        if reply.tools:
            self._record_requested_tools(reply.tools)
        if reply.refused:
            turn.refusal()
        turn.complete(
            reply.text,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            response_model=reply.response_model,
            finish_reasons=reply.finish_reasons or None,
        )

    def _record_requested_tools(self, tools: tuple[RequestedTool, ...]) -> None:
        """The model asking for a tool is not the tool running (the app's `execute_tool` span, if it runs it):
        each requested call is an event on the chat span, its arguments only with content capture on."""
        span = self._turn.span
        capture = hooks.get_runtime().capture_content
        for tool in tools:
            attributes = {names.GEN_AI_TOOL_NAME: tool.name}
            if tool.call_id:
                attributes[names.GEN_AI_TOOL_CALL_ID] = tool.call_id
            if capture and tool.arguments is not None:
                attributes[names.GEN_AI_TOOL_CALL_ARGUMENTS] = tool.arguments
            span.add_event(names.AI_TOOL_CALL_REQUESTED, attributes)


def _read(api: OpenAIApi, kwargs: Mapping[str, Any]) -> TurnRequest:
    """The request as the turn sees it; if it cannot be read, a turn on an unknown model (the gate still runs)."""
    try:
        return api.request(kwargs)
    except Exception:
        hooks.get_runtime().record_error(COMPONENT)
        return TurnRequest(model=UNKNOWN_MODEL)
