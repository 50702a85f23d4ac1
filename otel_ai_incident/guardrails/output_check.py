"""What an output guardrail hands back to the hooks: the text to send, the decision, the counts per entity type.

It lives with the guardrails rather than with the hooks' ports because the guardrails build it, and a
guardrail never imports telemetry (the layer above it); the hooks' `OutputGuard` port returns this type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class OutputCheck:
    """What an output guard decided: the text to send, the decision, and how many entities of each type."""

    text: str
    decision: str
    action: str | None = None
    entity_counts: Mapping[str, int] = field(default_factory=dict)
