"""A completion hook for `opentelemetry-util-genai`: the official GenAI instrumentations' `chat` span gets the
turn's prompt-log id, pseudonymous user and conversation.

With the official OpenAI instrumentation active, our turn leaves the request to it (one `chat` span, one
duration record). Give it this hook and its span also says which prompt-log entry and which (pseudonymous)
user it belongs to, as our own `chat` span would:

    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from otel_ai_incident.telemetry.integrations.genai_hook import TurnCompletionHook

    OpenAIInstrumentor().instrument(completion_hook=TurnCompletionHook())
    aii.instrument(integrations=["openai"])     # after it: our turn wraps its span

The hook matches the span to the turn through the span's parent, so the official instrumentation must run
inside our turn (instrumented before ours). It imports nothing from util-genai (the hook protocol is
structural) and never raises.
"""

from __future__ import annotations

from typing import Any

from otel_ai_incident import names
from otel_ai_incident.telemetry import hooks
from otel_ai_incident.telemetry.integrations._core.linked_turns import turn_of

__all__ = ["TurnCompletionHook"]


class TurnCompletionHook:
    """`CompletionHook.on_completion`: called by util-genai with the span before it ends."""

    def on_completion(self, *, span: Any = None, **content: Any) -> None:
        if span is None:
            return
        try:
            turn = turn_of(span)
            if turn is None:
                return
            attributes = {names.AI_PROMPT_LOG_ID: turn.log_id}
            if turn.user_pseudonym is not None:
                attributes[names.ENDUSER_PSEUDO_ID] = turn.user_pseudonym
            if turn.session_id is not None:
                attributes[names.GEN_AI_CONVERSATION_ID] = turn.session_id
            span.set_attributes(attributes)
        except Exception:
            hooks.get_runtime().record_error("genai_hook")
