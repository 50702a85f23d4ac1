"""A request as the turn and its model call see it, and readers for the SDK values requests are made of.

Request values may be plain dicts (the usual TypedDicts) or an SDK's own models, so every field is read
through `field()`; the readers never raise for a value of an unexpected type, they return nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from otel_ai_incident.telemetry.model_call import ModelRequest

UNKNOWN_MODEL = "unknown"


@dataclass(slots=True)
class TurnRequest:
    """What the turn needs (model, prompt, user, session) and the model call's settings."""

    model: str
    system_prompt: str | None = None
    user_message: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    call: ModelRequest | None = None  # the model call's settings (content added only when captured)
    messages: Any = None  # the request's input as given, read into content only when content is captured
    tools: Any = None
    provider: str | None = None  # None: the client's (`ClientApi.provider`); a router names it per request


def field(obj: Any, name: str) -> Any:
    """A field of a dict or of an SDK model, or None."""
    if isinstance(obj, dict | Mapping):  # dict first: the usual case, and far cheaper to check than the ABC
        return obj.get(name)
    return getattr(obj, name, None)


def items(value: Any) -> Iterable[Any]:
    """The items of a list of messages or parts; nothing for a string, a mapping or bytes.

    Lists and tuples, the usual case, are recognised before the ABC checks, which cost far more."""
    if isinstance(value, list | tuple) or (
        isinstance(value, Iterable) and not isinstance(value, str | Mapping | bytes)
    ):
        return value
    return ()


def string(value: Any) -> str | None:
    """The value if it is a non-empty string (an SDK's `omit`/`NOT_GIVEN` sentinels are not)."""
    return value if isinstance(value, str) and value else None


def number(value: Any) -> float | None:
    """A setting if given as a number (not an SDK's sentinel, not a bool)."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def content_text(content: Any) -> str | None:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    texts = [text for part in items(content) if isinstance(text := field(part, "text"), str)]
    return "".join(texts) if texts else None


def model_settings(kwargs: Mapping[str, Any], max_tokens_keys: tuple[str, ...] = ("max_tokens",)) -> ModelRequest:
    """The sampling settings of a request given as keyword arguments (the first of `max_tokens_keys` given
    names the token limit: clients and API versions spell it differently)."""
    get = kwargs.get
    max_tokens = None
    for key in max_tokens_keys:
        if (max_tokens := number(get(key))) is not None:
            break
    stream = get("stream")
    return ModelRequest(
        temperature=number(get("temperature")),
        max_tokens=int(max_tokens) if max_tokens is not None else None,
        top_p=number(get("top_p")),
        stream=stream if isinstance(stream, bool) else None,
    )
