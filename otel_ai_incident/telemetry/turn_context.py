"""Who a model call is for, set once around app code so auto-instrumented calls can name the user and session.

An integration that patches a client library never sees the app's request handler, only the API call. The app
says who the calls are for with `with turn_context(user_id=..., session_id=...):`; the value lives in a
contextvar, so it follows asyncio tasks (which copy the context when created) and threads started through
`contextvars.copy_context().run`, and never leaks between concurrent requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TurnContext:
    """The user and session of the turns started in this context (None: not known here)."""

    user_id: str | None = None
    session_id: str | None = None


_EMPTY = TurnContext()
_current: ContextVar[TurnContext] = ContextVar("otel_ai_incident.turn_context", default=_EMPTY)


def current_turn_context() -> TurnContext:
    """The innermost `turn_context` in force here, or an empty one."""
    return _current.get()


@contextmanager
def turn_context(*, user_id: str | None = None, session_id: str | None = None) -> Iterator[TurnContext]:
    """Attribute the model calls made inside this block to a user and a session.

    Nested blocks inherit what they do not set, so a handler can set the user and a helper the session.
    """
    outer = _current.get()
    context = TurnContext(
        user_id=outer.user_id if user_id is None else user_id,
        session_id=outer.session_id if session_id is None else session_id,
    )
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
