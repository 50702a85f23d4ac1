"""What an Anthropic Messages request and reply tell the turn, read into the core's `TurnRequest` and `Reply`.

The request gives the model, the system prompt (`system`, a string or text blocks), the last user message, the
user (`turn_context`, else `metadata.user_id`, the API's own field for an end-user id) and the sampling
settings; the input history and tool definitions are read only when content is captured. The reply gives the
text blocks, the `tool_use` blocks the model asks for, the stop reason (`refusal` is a refusal) and usage.
Anthropic's `input_tokens` leaves out prompt-cache reads and writes; the conventions' input tokens include
them, so they are added, and each is also reported on its own (`gen_ai.usage.cache_*.input_tokens`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from anthropic.types import Message

from otel_ai_incident.telemetry import content
from otel_ai_incident.telemetry.integrations._core.reply import Checker, Reply, RequestedTool
from otel_ai_incident.telemetry.integrations._core.request import (
    UNKNOWN_MODEL,
    TurnRequest,
    content_text,
    field,
    items,
    model_settings,
    string,
)
from otel_ai_incident.telemetry.turn_context import current_turn_context

REFUSAL = "refusal"  # the stop reason of a reply the model's safety measures stopped
_TOOL_USE_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})  # the last two run on Anthropic's side


def messages_request(kwargs: Mapping[str, Any]) -> TurnRequest:
    """Read `messages.create(**kwargs)` (and `messages.stream(**kwargs)`, which takes the same)."""
    messages = kwargs.get("messages")
    user_message = None
    for message in items(messages):
        if field(message, "role") == "user" and (text := content_text(field(message, "content"))) is not None:
            user_message = text
    context = current_turn_context()
    return TurnRequest(
        model=string(kwargs.get("model")) or UNKNOWN_MODEL,
        system_prompt=content_text(kwargs.get("system")),
        user_message=user_message,
        user_id=context.user_id or string(field(kwargs.get("metadata"), "user_id")),
        session_id=context.session_id,
        call=model_settings(kwargs),
        messages=messages,
        tools=kwargs.get("tools"),
    )


def with_content(request: TurnRequest) -> None:
    """Add the input history and the tool definitions to the model call (content capture only)."""
    call = request.call
    if call is None:
        return
    call.system_instructions = request.system_prompt
    call.input_messages = [
        content.message(field(message, "role") or "user", _parts(field(message, "content")))
        for message in items(request.messages)
    ]
    definitions = []
    for tool in items(request.tools):
        if isinstance(name := field(tool, "name"), str):
            definition: dict[str, Any] = {"type": "function", "name": name}
            if isinstance(description := field(tool, "description"), str):
                definition["description"] = description
            if (schema := field(tool, "input_schema")) is not None:
                definition["parameters"] = schema
            definitions.append(definition)
    call.tool_definitions = definitions or None


def _parts(given: Any) -> list[dict[str, Any]]:
    """A message's content blocks as the conventions' parts: text, tool calls and tool results."""
    if isinstance(given, str):
        return [content.text_part(given)]
    parts: list[dict[str, Any]] = []
    for block in items(given):
        kind = field(block, "type")
        if kind == "text":
            parts.append(content.text_part(field(block, "text") or ""))
        elif kind in _TOOL_USE_BLOCKS:
            parts.append(content.tool_call_part(field(block, "name") or "", field(block, "id"), field(block, "input")))
        elif kind == "tool_result":
            result = field(block, "content")
            parts.append(content.tool_result_part(field(block, "tool_use_id"), content_text(result) or result))
        else:
            parts.append({"type": kind or "unknown"})
    return parts


def _input_tokens(usage: Any) -> tuple[int | None, int | None, int | None]:
    """(input tokens including the cache's, cache reads, cache writes) of a usage object."""
    base = getattr(usage, "input_tokens", None)
    read = getattr(usage, "cache_read_input_tokens", None)
    written = getattr(usage, "cache_creation_input_tokens", None)
    if base is None:
        return None, read, written
    return base + (read or 0) + (written or 0), read, written


def message_reply(message: Message) -> Reply:
    """A whole reply: its text blocks joined, its tool_use blocks, its stop reason and usage."""
    texts: list[str] = []
    tools: list[RequestedTool] = []
    for block in message.content or ():
        if block.type == "text":
            texts.append(block.text)
        elif block.type in _TOOL_USE_BLOCKS:
            tools.append(RequestedTool(block.name, block.id, json.dumps(block.input, default=str)))
    usage = message.usage
    input_tokens, cache_read, cache_written = _input_tokens(usage)
    stop = message.stop_reason
    return Reply(
        text="".join(texts) if texts else None,
        response_id=message.id,
        response_model=message.model,
        finish_reasons=(stop,) if stop else (),
        input_tokens=input_tokens,
        output_tokens=usage.output_tokens if usage is not None else None,
        refused=stop == REFUSAL,
        tools=tuple(tools),
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_written,
    )


def check_message(message: Message, check: Checker) -> None:
    """Run the output check on every text block and keep what it returns (redacted or withheld text)."""
    for block in message.content or ():
        if block.type == "text" and block.text:
            block.text = check(block.text)


class _Block:
    __slots__ = ("call_id", "json", "kind", "name", "text")

    def __init__(self, block: Any) -> None:
        self.kind: str = block.type
        self.name: str | None = getattr(block, "name", None)
        self.call_id: str | None = getattr(block, "id", None)
        self.text: list[str] = [block.text] if self.kind == "text" and block.text else []
        self.json: list[str] = []


class MessageStreamAccumulator:
    """Rebuilds a reply from the raw stream events (`message_start`, content block starts and deltas,
    `message_delta` with the stop reason and the output usage), read the way `message_reply` reads a whole one."""

    __slots__ = ("_blocks", "_message", "_output_tokens", "_stop", "_usage")

    def __init__(self) -> None:
        self._message: Any = None
        self._blocks: dict[int, _Block] = {}
        self._stop: str | None = None
        self._usage: Any = None
        self._output_tokens: int | None = None

    def add(self, event: Any) -> None:
        kind = event.type
        if kind == "content_block_delta":
            block = self._blocks.get(event.index)
            delta = event.delta
            if block is not None:
                if delta.type == "text_delta":
                    block.text.append(delta.text)
                elif delta.type == "input_json_delta":
                    block.json.append(delta.partial_json)
        elif kind == "content_block_start":
            self._blocks[event.index] = _Block(event.content_block)
        elif kind == "message_start":
            self._message = event.message
            self._usage = event.message.usage
        elif kind == "message_delta":
            self._stop = event.delta.stop_reason or self._stop
            usage = event.usage
            self._output_tokens = usage.output_tokens  # cumulative
            if getattr(usage, "input_tokens", None) is not None:
                self._usage = usage

    def reply(self) -> Reply:
        message = self._message
        texts = [piece for index in sorted(self._blocks) for piece in self._blocks[index].text]
        tools = tuple(
            RequestedTool(block.name, block.call_id, "".join(block.json) or "{}")
            for _, block in sorted(self._blocks.items())
            if block.kind in _TOOL_USE_BLOCKS and block.name
        )
        input_tokens, cache_read, cache_written = _input_tokens(self._usage)
        return Reply(
            text="".join(texts) or None,
            response_id=getattr(message, "id", None),
            response_model=getattr(message, "model", None),
            finish_reasons=(self._stop,) if self._stop else (),
            input_tokens=input_tokens,
            output_tokens=self._output_tokens,
            refused=self._stop == REFUSAL,
            tools=tools,
            cache_read_tokens=cache_read,
            cache_creation_tokens=cache_written,
        )
