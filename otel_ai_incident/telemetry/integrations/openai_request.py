"""What an OpenAI request tells the turn: model, system prompt, last user message, user and session.

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


def chat_request(kwargs: Mapping[str, Any]) -> TurnRequest:
    """Read `chat.completions.create(**kwargs)`."""
    system_prompt, user_message = _from_messages(kwargs.get("messages"))
    user_id, session_id = _who(kwargs)
    return TurnRequest(
        model=_str(kwargs.get("model")) or UNKNOWN_MODEL,
        system_prompt=system_prompt,
        user_message=user_message,
        user_id=user_id,
        session_id=session_id,
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
    )
