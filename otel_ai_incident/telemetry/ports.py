"""What the hooks call out to: the containment gate, the prompt log, and the guardrails.

The hooks depend on these small protocols only, so the code an app imports stays independent of how the
containment state is stored or where the prompt log goes; `instrument()` plugs the real parts in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from otel_ai_incident.guardrails.output_check import OutputCheck
from otel_ai_incident.promptlog.entry import PromptLogEntry


class Gate(Protocol):
    """Answers, on the request path and in microseconds, whether containment forbids something."""

    def turn_blocked(self, user_pseudonym: str | None) -> tuple[str, str | None] | None:
        """The (action, target) that forbids this turn (kill switch, rate limit), or None."""

    def tool_blocked(self, tool: str, writes: bool) -> tuple[str, str | None] | None:
        """The (action, target) that forbids this tool call (disabled tool, read-only), or None."""

    def guardrail_threshold(self, guardrail: str, default: float) -> float:
        """The threshold to apply now: `default`, or the tightened one while tighten_guardrail is active."""


class OpenGate:
    """The gate when no containment state is configured: nothing is ever contained."""

    def turn_blocked(self, user_pseudonym: str | None) -> None:
        return None

    def tool_blocked(self, tool: str, writes: bool) -> None:
        return None

    def guardrail_threshold(self, guardrail: str, default: float) -> float:
        return default


class PromptLogSink(Protocol):
    def submit(self, entry: PromptLogEntry) -> None:
        """Take an entry without blocking; never raise (a full queue drops and counts)."""

    def close(self, timeout: float) -> None:
        """Write what is queued, waiting at most `timeout` seconds."""


class OutputGuard(Protocol):
    """Checks the model's reply before it reaches the user (the PII guardrail)."""

    action: str
    entity_types: tuple[str, ...]

    def check(self, text: str) -> OutputCheck:
        """The reply as it may be sent (redacted or replaced when blocked), never raising for any text."""


class ToolArgumentScorer(Protocol):
    def observe(self, tool: str, arguments: Mapping[str, Any]) -> float:
        """Score how unusual these arguments are for this tool (0..1), then learn from them."""
