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
class Reply(ModelReply):
    """A whole or streamed reply of any client: what its model call records (a `ModelReply`), and what the
    turn needs besides: the text, whether the model refused, the tools it asks for."""

    text: str | None = None
    refused: bool = False
    tools: tuple[RequestedTool, ...] = ()


class StreamAccumulator(Protocol):
    def add(self, chunk: Any) -> None:
        """Take one streamed chunk or event."""

    def reply(self) -> Reply:
        """The reply as far as it arrived."""


def model_reply(reply: Reply, *, capture: bool) -> ModelReply:
    """The reply as its model call records it: itself, given its output message (text and tool calls) when
    content is captured."""
    if capture:
        parts = [content.text_part(reply.text)] if reply.text else []
        parts.extend(content.tool_call_part(t.name, t.call_id, t.arguments) for t in reply.tools)
        finish = reply.finish_reasons[0] if reply.finish_reasons else None
        reply.output_messages = [content.message("assistant", parts, finish)]
    return reply
