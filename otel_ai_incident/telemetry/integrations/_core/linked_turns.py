"""Turns whose model call another instrumentation traces, found again from that instrumentation's span.

When OpenTelemetry's own OpenAI instrumentation traces the request, its `chat` span is started inside our
turn's context, so its parent is the turn's span. A completion hook of `opentelemetry-util-genai`
(`integrations.genai_hook`) receives that span before it ends and looks the turn up here by the parent's
span id, to put the turn's prompt-log id and pseudonymous user on it. Entries live only while the turn is
open; dict operations are atomic, so no lock is needed.
"""

from __future__ import annotations

from typing import Any

from otel_ai_incident.telemetry.hooks import Turn

_open: dict[int, Turn] = {}


def link(turn: Turn) -> None:
    span_id = turn.span.get_span_context().span_id
    if span_id:
        _open[span_id] = turn


def unlink(turn: Turn) -> None:
    _open.pop(turn.span.get_span_context().span_id, None)


def turn_of(span: Any) -> Turn | None:
    """The open turn whose span is `span`'s parent, if any (`span` is an SDK span; others have no parent)."""
    parent = getattr(span, "parent", None)
    return _open.get(parent.span_id) if parent is not None else None
