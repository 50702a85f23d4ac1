"""What LangChain's run events tell the turn: the chat model's request (its messages and the run's `ls_*`
metadata) and its reply (an `LLMResult`), read into the core's shapes. LangChain's own message types are read;
no provider SDK is."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from otel_ai_incident.telemetry import content
from otel_ai_incident.telemetry.integrations._core.reply import Reply, RequestedTool
from otel_ai_incident.telemetry.integrations._core.request import UNKNOWN_MODEL, content_text, number, string
from otel_ai_incident.telemetry.model_call import ModelRequest

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
_REFUSALS = frozenset({"content_filter", "refusal"})


@dataclass(slots=True)
class ChatRequest:
    """A chat model start as the turn sees it; `history` is read into content only when content is captured."""

    model: str
    provider: str | None
    system_prompt: str | None
    user_message: str | None
    call: ModelRequest
    history: Sequence[BaseMessage]


def chat_request(
    messages: Sequence[BaseMessage], metadata: Mapping[str, Any], params: Mapping[str, Any]
) -> ChatRequest:
    """Model and provider from LangChain's run metadata (`ls_*`), else the invocation parameters."""
    model = string(metadata.get("ls_model_name")) or string(params.get("model")) or string(params.get("model_name"))
    system = [text for m in messages if m.type == "system" and (text := content_text(m.content)) is not None]
    user_message = next((content_text(m.content) for m in reversed(messages) if m.type == "human"), None)
    max_tokens = number(metadata.get("ls_max_tokens"))
    provider = string(metadata.get("ls_provider"))
    return ChatRequest(
        model=model or UNKNOWN_MODEL,
        provider=provider,
        system_prompt="\n".join(system) if system else None,
        user_message=user_message,
        call=ModelRequest(  # its own model and provider: a turn's later calls (or the app's turn) may differ
            model=model,
            provider=provider,
            temperature=number(metadata.get("ls_temperature")),
            max_tokens=int(max_tokens) if max_tokens is not None else None,
        ),
        history=messages,
    )


def input_message(message: BaseMessage) -> content.Message:
    """A LangChain message in the conventions' shape (content capture only)."""
    role = _ROLES.get(message.type, message.type)
    if role == "tool":
        return content.message(
            "tool", [content.tool_result_part(getattr(message, "tool_call_id", None), message.content)]
        )
    parts = [content.text_part(text)] if (text := content_text(message.content)) else []
    parts.extend(
        content.tool_call_part(c["name"], c.get("id"), c.get("args"))
        for c in getattr(message, "tool_calls", None) or ()
    )
    return content.message(role, parts)


def chat_reply(result: LLMResult) -> Reply:
    """The first generation's message: text, usage (LangChain's input tokens include the cache's), the
    provider's finish or stop reason, and the tool calls it asks for."""
    generations = result.generations[0] if result.generations else []
    if not generations:
        return Reply()
    generation = generations[0]
    message = getattr(generation, "message", None)
    metadata = getattr(message, "response_metadata", None) or {}
    info = generation.generation_info or {}
    reason = (
        string(metadata.get("finish_reason"))
        or string(metadata.get("stop_reason"))
        or string(info.get("finish_reason"))
    )
    usage = getattr(message, "usage_metadata", None) or {}
    details = usage.get("input_token_details") or {}
    tools = tuple(
        RequestedTool(call["name"], call.get("id"), json.dumps(call.get("args"), default=str))
        for call in getattr(message, "tool_calls", None) or ()
    )
    refusal = getattr(message, "additional_kwargs", {}).get("refusal") if message is not None else None
    return Reply(
        text=str(message.text) if message is not None else generation.text,
        response_id=string(metadata.get("id")),
        response_model=string(metadata.get("model_name")) or string(metadata.get("model")),
        finish_reasons=(reason,) if reason else (),
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
        refused=reason in _REFUSALS or bool(refusal),
        tools=tools,
        cache_read_tokens=details.get("cache_read"),
        cache_creation_tokens=details.get("cache_creation"),
    )
