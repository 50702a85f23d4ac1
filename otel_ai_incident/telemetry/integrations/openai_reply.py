"""What an OpenAI reply tells the turn: text, usage, finish reasons, refusals and the tools the model asks for.

Whole replies (Chat Completions, Responses) and streamed ones are read into the core's `Reply`, so the turn records
both the same way. A streamed reply is rebuilt from its chunks by an accumulator; for Responses the final
`response.completed` event carries the whole reply, which is then read like a non-streamed one.
"""

from __future__ import annotations

from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response

from otel_ai_incident.telemetry.integrations._core.reply import Checker, Reply, RequestedTool

CONTENT_FILTER = "content_filter"
_FINAL_RESPONSE_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
_TOOL_CALL_ITEMS = frozenset({"function_call", "custom_tool_call"})

# -- Chat Completions ---------------------------------------------------------------------------------------


def chat_reply(completion: ChatCompletion) -> Reply:
    """The first choice's text (what an app shows); finish reasons, refusals and tools of every choice."""
    choices = completion.choices or []
    finish_reasons = tuple(c.finish_reason for c in choices if c.finish_reason)
    tools: list[RequestedTool] = []
    for choice in choices:
        message = choice.message
        tools.extend(_chat_tool(call) for call in message.tool_calls or ())
        if message.function_call is not None:  # the deprecated `functions` API
            tools.append(RequestedTool(message.function_call.name, None, message.function_call.arguments))
    usage = completion.usage
    return Reply(
        text=choices[0].message.content if choices else None,
        response_id=completion.id,
        response_model=completion.model,
        finish_reasons=finish_reasons,
        input_tokens=usage.prompt_tokens if usage else None,
        output_tokens=usage.completion_tokens if usage else None,
        refused=CONTENT_FILTER in finish_reasons or any(c.message.refusal for c in choices),
        tools=tuple(tools),
    )


def _chat_tool(call: Any) -> RequestedTool:
    """A function tool call (name, JSON arguments) or a custom one (name, free-form input)."""
    function = getattr(call, "function", None)
    if function is not None:
        return RequestedTool(function.name, call.id, function.arguments)
    return RequestedTool(call.custom.name, call.id, call.custom.input)


def check_chat(completion: ChatCompletion, check: Checker) -> None:
    """Run the output check on every choice and keep what it returns (redacted or withheld text)."""
    for choice in completion.choices or []:
        if choice.message.content:
            choice.message.content = check(choice.message.content)


class _ToolParts:
    __slots__ = ("arguments", "call_id", "name")

    def __init__(self) -> None:
        self.name: str | None = None
        self.call_id: str | None = None
        self.arguments: list[str] = []


class ChatStreamAccumulator:
    """Rebuilds a Chat Completions reply from its chunks, read the way `chat_reply` reads a whole one."""

    __slots__ = ("_finish", "_id", "_model", "_refused", "_text", "_tools", "_usage")

    def __init__(self) -> None:
        self._id: str | None = None
        self._text: list[str] = []
        self._finish: dict[int, str] = {}
        self._tools: dict[tuple[int, int], _ToolParts] = {}
        self._model: str | None = None
        self._usage: Any = None
        self._refused = False

    def add(self, chunk: ChatCompletionChunk) -> None:
        self._model = chunk.model or self._model
        self._id = chunk.id or self._id
        if chunk.usage is not None:  # the last chunk, with stream_options={"include_usage": True}
            self._usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content and choice.index == 0:
                self._text.append(delta.content)
            if delta.refusal:
                self._refused = True
            for call in delta.tool_calls or ():
                parts = self._tools.setdefault((choice.index, call.index), _ToolParts())
                parts.call_id = call.id or parts.call_id
                if call.function is not None:
                    parts.name = call.function.name or parts.name
                    if call.function.arguments:
                        parts.arguments.append(call.function.arguments)
            if choice.finish_reason:
                self._finish[choice.index] = choice.finish_reason

    def reply(self) -> Reply:
        finish_reasons = tuple(self._finish[index] for index in sorted(self._finish))
        usage = self._usage
        return Reply(
            text="".join(self._text) or None,
            response_id=self._id,
            response_model=self._model,
            finish_reasons=finish_reasons,
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
            refused=self._refused or CONTENT_FILTER in finish_reasons,
            tools=tuple(
                RequestedTool(parts.name, parts.call_id, "".join(parts.arguments))
                for _, parts in sorted(self._tools.items())
                if parts.name
            ),
        )


# -- Responses ----------------------------------------------------------------------------------------------


def responses_reply(response: Response) -> Reply:
    """Output text, refusal parts, function and custom tool calls; the finish reason is why it stopped."""
    texts: list[str] = []
    tools: list[RequestedTool] = []
    refused = False
    for item in response.output or ():
        if item.type == "message":
            for part in item.content:
                if part.type == "output_text":
                    texts.append(part.text)
                elif part.type == "refusal" and part.refusal:
                    refused = True
        elif item.type in _TOOL_CALL_ITEMS:
            arguments = item.arguments if item.type == "function_call" else item.input
            tools.append(RequestedTool(item.name, item.call_id, arguments))
    # Responses has no finish_reason: the incomplete reason (e.g. content_filter) or else the status stands in.
    details = response.incomplete_details
    reason = details.reason if details is not None and details.reason else response.status
    usage = response.usage
    return Reply(
        text="".join(texts) if texts else None,
        response_id=response.id,
        response_model=response.model,
        finish_reasons=(reason,) if reason else (),
        input_tokens=usage.input_tokens if usage else None,
        output_tokens=usage.output_tokens if usage else None,
        refused=refused or reason == CONTENT_FILTER,
        tools=tuple(tools),
    )


def check_responses(response: Response, check: Checker) -> None:
    """Run the output check on every output text part and keep what it returns."""
    for item in response.output or ():
        if item.type == "message":
            for part in item.content:
                if part.type == "output_text" and part.text:
                    part.text = check(part.text)


class ResponsesStreamAccumulator:
    """Keeps the final response of a Responses stream; if the stream stops short, the text deltas so far."""

    __slots__ = ("_final", "_model", "_text")

    def __init__(self) -> None:
        self._final: Response | None = None
        self._model: str | None = None
        self._text: list[str] = []

    def add(self, event: Any) -> None:
        kind = event.type
        if kind == "response.output_text.delta":
            self._text.append(event.delta)
        elif kind in _FINAL_RESPONSE_EVENTS:
            self._final = event.response
        elif kind == "response.created":
            self._model = event.response.model

    def reply(self) -> Reply:
        if self._final is not None:
            return responses_reply(self._final)
        return Reply(text="".join(self._text) or None, response_model=self._model)
