"""A reply as the turn and its model call see it, whichever client produced it, whole or streamed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from otel_ai_incident.telemetry import content
from otel_ai_incident.telemetry.model_call import ModelReply

Checker = Callable[[str], str]  # the output check: the text as it may be sent


@dataclass(frozen=True, slots=True)
class RequestedTool:
    """A tool call the model asks for. The app may run it (an `execute_tool` span then) or not."""

    name: str
    call_id: str | None = None
    arguments: str | None = None


@dataclass(slots=True)
class Reply:
    text: str | None = None
    response_id: str | None = None
    response_model: str | None = None
    finish_reasons: tuple[str, ...] = ()
    input_tokens: int | None = None
    output_tokens: int | None = None
    refused: bool = False
    tools: tuple[RequestedTool, ...] = ()
    cache_read_tokens: int | None = None  # prompt-cache reads, already counted in input_tokens
    cache_creation_tokens: int | None = None  # prompt-cache writes, already counted in input_tokens


class StreamAccumulator(Protocol):
    def add(self, chunk: Any) -> None:
        """Take one streamed chunk or event."""

    def reply(self) -> Reply:
        """The reply as far as it arrived."""


def model_reply(reply: Reply, *, capture: bool) -> ModelReply:
    """What the model call records of a reply; its output message (text and tool calls) only when captured."""
    output = None
    if capture:
        parts = [content.text_part(reply.text)] if reply.text else []
        parts.extend(content.tool_call_part(t.name, t.call_id, t.arguments) for t in reply.tools)
        finish = reply.finish_reasons[0] if reply.finish_reasons else None
        output = [content.message("assistant", parts, finish)]
    return ModelReply(
        response_id=reply.response_id,
        response_model=reply.response_model,
        finish_reasons=reply.finish_reasons,
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        output_messages=output,
        cache_read_tokens=reply.cache_read_tokens,
        cache_creation_tokens=reply.cache_creation_tokens,
    )
