"""What an OpenAI request tells the turn and its model call: model, system prompt, last user message, user and
session; sampling settings, and (for content capture) the whole input history and the tool definitions.

Chat Completions and Responses spell these differently; both are read here into one `TurnRequest`, so the
rest of the integration does not care which API was called. Request values may be plain dicts (the usual
TypedDicts) or the SDK's own models, so every field is read through `_field()`.

The user is the one named by `turn_context`, else the request's `safety_identifier` (OpenAI's successor of
`user`), else `user`; the session is `turn_context`'s, else the Responses `conversation` id. `metadata` is not
read: its keys are the app's own, and guessing which one holds a user id would be a silent convention.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from otel_ai_incident.telemetry import content
from otel_ai_incident.telemetry.content import Message
from otel_ai_incident.telemetry.model_call import ModelRequest
from otel_ai_incident.telemetry.turn_context import current_turn_context

UNKNOWN_MODEL = "unknown"
_SYSTEM_ROLES = frozenset({"system", "developer"})
_USER_ROLE = "user"


@dataclass(slots=True)
class TurnRequest:
    model: str
    system_prompt: str | None = None
    user_message: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    call: ModelRequest | None = None  # the model call's settings (content added by `with_content`)
    messages: Any = None  # the request's input as given, read into content only when content is captured
    tools: Any = None


def _field(obj: Any, name: str) -> Any:
    """A field of a dict or of an SDK model, or None."""
    if isinstance(obj, dict | Mapping):  # dict first: the usual case, and far cheaper to check than the ABC
        return obj.get(name)
    return getattr(obj, name, None)


def _items(value: Any) -> Iterable[Any]:
    """The items of a list of messages or parts; nothing for a string, a mapping or bytes.

    Lists and tuples, the usual case, are recognised before the ABC checks, which cost far more."""
    if isinstance(value, list | tuple) or (
        isinstance(value, Iterable) and not isinstance(value, str | Mapping | bytes)
    ):
        return value
    return ()


def _str(value: Any) -> str | None:
    """The value if it is a non-empty string (the SDK's `omit`/`NOT_GIVEN` sentinels are not)."""
    return value if isinstance(value, str) and value else None


def _content_text(content: Any) -> str | None:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    texts = [text for part in _items(content) if isinstance(text := _field(part, "text"), str)]
    return "".join(texts) if texts else None


def _from_messages(messages: Any, instructions: str | None = None) -> tuple[str | None, str | None]:
    """(system prompt, last user message) of a message list; system and developer messages form the prompt."""
    system_parts = [instructions] if instructions else []
    user_message = None
    for message in _items(messages):
        role = _field(message, "role")
        if role in _SYSTEM_ROLES:
            if (text := _content_text(_field(message, "content"))) is not None:
                system_parts.append(text)
        elif role == _USER_ROLE:
            user_message = _content_text(_field(message, "content"))
    return ("\n".join(system_parts) if system_parts else None), user_message


def _who(kwargs: Mapping[str, Any], session_id: str | None = None) -> tuple[str | None, str | None]:
    """User and session: `turn_context` first; else `safety_identifier` (OpenAI's successor of `user`), `user`."""
    context = current_turn_context()
    user_id = context.user_id or _str(kwargs.get("safety_identifier")) or _str(kwargs.get("user"))
    return user_id, context.session_id or session_id


def _number(value: Any) -> float | None:
    """A sampling setting if given as a number (not the SDK's `omit` sentinel, not a bool)."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _settings(kwargs: Mapping[str, Any], max_tokens_keys: tuple[str, ...]) -> ModelRequest:
    max_tokens = next((v for k in max_tokens_keys if (v := _number(kwargs.get(k))) is not None), None)
    stream = kwargs.get("stream")
    return ModelRequest(
        temperature=_number(kwargs.get("temperature")),
        max_tokens=int(max_tokens) if max_tokens is not None else None,
        top_p=_number(kwargs.get("top_p")),
        stream=stream if isinstance(stream, bool) else None,
    )


def chat_request(kwargs: Mapping[str, Any]) -> TurnRequest:
    """Read `chat.completions.create(**kwargs)`."""
    messages = kwargs.get("messages")
    system_prompt, user_message = _from_messages(messages)
    user_id, session_id = _who(kwargs)
    return TurnRequest(
        model=_str(kwargs.get("model")) or UNKNOWN_MODEL,
        system_prompt=system_prompt,
        user_message=user_message,
        user_id=user_id,
        session_id=session_id,
        call=_settings(kwargs, ("max_completion_tokens", "max_tokens")),
        messages=messages,
        tools=kwargs.get("tools"),
    )


def responses_request(kwargs: Mapping[str, Any]) -> TurnRequest:
    """Read `responses.create(**kwargs)`: `instructions` and system items form the prompt; `input` may be text."""
    instructions = _str(kwargs.get("instructions"))
    given = kwargs.get("input")
    if isinstance(given, str):
        system_prompt, user_message = instructions, given
    else:
        system_prompt, user_message = _from_messages(given, instructions)
    conversation = kwargs.get("conversation")
    user_id, session_id = _who(kwargs, _str(conversation) or _str(_field(conversation, "id")))
    return TurnRequest(
        model=_str(kwargs.get("model")) or UNKNOWN_MODEL,
        system_prompt=system_prompt,
        user_message=user_message,
        user_id=user_id,
        session_id=session_id,
        call=_settings(kwargs, ("max_output_tokens",)),
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
    definitions = [d for tool in _items(request.tools) if (d := _tool_definition(tool)) is not None]
    call.tool_definitions = definitions or None


def _history(items: Any) -> list[Message]:
    """Chat messages or Responses input items in the conventions' shape; system messages are instructions."""
    history: list[Message] = []
    for item in _items(items):
        role = _field(item, "role")
        kind = _field(item, "type")
        if role in _SYSTEM_ROLES:
            continue
        if kind == "function_call":  # Responses: the model asked for a tool earlier in the conversation
            part = content.tool_call_part(
                _field(item, "name") or "", _field(item, "call_id"), _field(item, "arguments")
            )
            history.append(content.message("assistant", [part]))
        elif kind == "function_call_output":
            history.append(
                content.message("tool", [content.tool_result_part(_field(item, "call_id"), _field(item, "output"))])
            )
        elif role == "tool":  # Chat Completions: a tool's result
            result = _content_text(_field(item, "content"))
            history.append(content.message("tool", [content.tool_result_part(_field(item, "tool_call_id"), result)]))
        elif role is not None:
            parts = _content_parts(_field(item, "content"))
            for call in _items(_field(item, "tool_calls")):
                function = _field(call, "function")
                parts.append(
                    content.tool_call_part(
                        _field(function, "name") or "", _field(call, "id"), _field(function, "arguments")
                    )
                )
            history.append(content.message(role, parts))
    return history


def _content_parts(given: Any) -> list[dict[str, Any]]:
    if isinstance(given, str):
        return [content.text_part(given)]
    parts: list[dict[str, Any]] = []
    for part in _items(given):
        text = _field(part, "text")
        parts.append(content.text_part(text) if isinstance(text, str) else {"type": _field(part, "type") or "unknown"})
    return parts


def _tool_definition(tool: Any) -> dict[str, Any] | None:
    """A tool the request offers, flattened: Chat nests the function, Responses does not."""
    function = _field(tool, "function") or tool
    name = _field(function, "name")
    if not isinstance(name, str):
        return None
    definition: dict[str, Any] = {"type": _field(tool, "type") or "function", "name": name}
    if isinstance(description := _field(function, "description"), str):
        definition["description"] = description
    if (parameters := _field(function, "parameters")) is not None:
        definition["parameters"] = parameters
    return definition
