"""What an OpenAI request tells the turn and its model call: model, system prompt, last user message, user and
session; sampling settings, and (for content capture) the whole input history and the tool definitions.

Chat Completions and Responses spell these differently; both are read here into the core's `TurnRequest`, so
the rest of the integration does not care which API was called.

The user is the one named by `turn_context`, else the request's `safety_identifier` (OpenAI's successor of
`user`), else `user`; the session is `turn_context`'s, else the Responses `conversation` id. `metadata` is not
read: its keys are the app's own, and guessing which one holds a user id would be a silent convention.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_ai_incident.telemetry import content
from otel_ai_incident.telemetry.content import Message
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

_SYSTEM_ROLES = frozenset({"system", "developer"})
_USER_ROLE = "user"


def _from_messages(messages: Any, instructions: str | None = None) -> tuple[str | None, str | None]:
    """(system prompt, last user message) of a message list; system and developer messages form the prompt."""
    system_parts = [instructions] if instructions else []
    user_message = None
    for message in items(messages):
        role = field(message, "role")
        if role in _SYSTEM_ROLES:
            if (text := content_text(field(message, "content"))) is not None:
                system_parts.append(text)
        elif role == _USER_ROLE:
            user_message = content_text(field(message, "content"))
    return ("\n".join(system_parts) if system_parts else None), user_message


def _who(kwargs: Mapping[str, Any], session_id: str | None = None) -> tuple[str | None, str | None]:
    """User and session: `turn_context` first; else `safety_identifier` (OpenAI's successor of `user`), `user`."""
    context = current_turn_context()
    user_id = context.user_id or string(kwargs.get("safety_identifier")) or string(kwargs.get("user"))
    return user_id, context.session_id or session_id


def chat_request(kwargs: Mapping[str, Any]) -> TurnRequest:
    """Read `chat.completions.create(**kwargs)`."""
    messages = kwargs.get("messages")
    system_prompt, user_message = _from_messages(messages)
    user_id, session_id = _who(kwargs)
    return TurnRequest(
        model=string(kwargs.get("model")) or UNKNOWN_MODEL,
        system_prompt=system_prompt,
        user_message=user_message,
        user_id=user_id,
        session_id=session_id,
        call=model_settings(kwargs, ("max_completion_tokens", "max_tokens")),
        messages=messages,
        tools=kwargs.get("tools"),
    )


def responses_request(kwargs: Mapping[str, Any]) -> TurnRequest:
    """Read `responses.create(**kwargs)`: `instructions` and system items form the prompt; `input` may be text."""
    instructions = string(kwargs.get("instructions"))
    given = kwargs.get("input")
    if isinstance(given, str):
        system_prompt, user_message = instructions, given
    else:
        system_prompt, user_message = _from_messages(given, instructions)
    conversation = kwargs.get("conversation")
    user_id, session_id = _who(kwargs, string(conversation) or string(field(conversation, "id")))
    return TurnRequest(
        model=string(kwargs.get("model")) or UNKNOWN_MODEL,
        system_prompt=system_prompt,
        user_message=user_message,
        user_id=user_id,
        session_id=session_id,
        call=model_settings(kwargs, ("max_output_tokens",)),
        messages=given,
        tools=kwargs.get("tools"),
    )


# -- content (only read when content capture is on) ----------------------------------------------------------


def with_content(request: TurnRequest) -> None:
    """Add the whole input history (system instructions apart) and the tool definitions to the model call."""
    call = request.call
    if call is None:
        return
    call.system_instructions = request.system_prompt
    given = request.messages
    call.input_messages = [content.text_message("user", given)] if isinstance(given, str) else _history(given)
    definitions = [d for tool in items(request.tools) if (d := _tool_definition(tool)) is not None]
    call.tool_definitions = definitions or None


def _history(given: Any) -> list[Message]:
    """Chat messages or Responses input items in the conventions' shape; system messages are instructions."""
    history: list[Message] = []
    for item in items(given):
        role = field(item, "role")
        kind = field(item, "type")
        if role in _SYSTEM_ROLES:
            continue
        if kind == "function_call":  # Responses: the model asked for a tool earlier in the conversation
            part = content.tool_call_part(field(item, "name") or "", field(item, "call_id"), field(item, "arguments"))
            history.append(content.message("assistant", [part]))
        elif kind == "function_call_output":
            history.append(
                content.message("tool", [content.tool_result_part(field(item, "call_id"), field(item, "output"))])
            )
        elif role == "tool":  # Chat Completions: a tool's result
            result = content_text(field(item, "content"))
            history.append(content.message("tool", [content.tool_result_part(field(item, "tool_call_id"), result)]))
        elif role is not None:
            parts = _content_parts(field(item, "content"))
            for call in items(field(item, "tool_calls")):
                function = field(call, "function")
                parts.append(
                    content.tool_call_part(
                        field(function, "name") or "", field(call, "id"), field(function, "arguments")
                    )
                )
            history.append(content.message(role, parts))
    return history


def _content_parts(given: Any) -> list[dict[str, Any]]:
    if isinstance(given, str):
        return [content.text_part(given)]
    parts: list[dict[str, Any]] = []
    for part in items(given):
        text = field(part, "text")
        parts.append(content.text_part(text) if isinstance(text, str) else {"type": field(part, "type") or "unknown"})
    return parts


def _tool_definition(tool: Any) -> dict[str, Any] | None:
    """A tool the request offers, flattened: Chat nests the function, Responses does not."""
    function = field(tool, "function") or tool
    name = field(function, "name")
    if not isinstance(name, str):
        return None
    definition: dict[str, Any] = {"type": field(tool, "type") or "function", "name": name}
    if isinstance(description := field(function, "description"), str):
        definition["description"] = description
    if (parameters := field(function, "parameters")) is not None:
        definition["parameters"] = parameters
    return definition
